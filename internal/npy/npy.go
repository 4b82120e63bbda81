// Package npy reads and writes NumPy .npy files (format 1.0) of little-endian int64 and float64
// arrays, C order: the files the official CSAD pseudo-label pipeline keeps under info/.
package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/csad-go/csad/internal/atomicfile"
)

// Array is an n-dimensional array; exactly one of Int64 and Float64 holds its values.
type Array struct {
	Shape   []int
	Int64   []int64
	Float64 []float64
}

var magic = []byte("\x93NUMPY")

// maxElements bounds what a header may promise before anything is allocated.
const maxElements = 1 << 28

// Write stores a atomically.
func Write(path string, a Array) error {
	descr := "<i8"
	n := len(a.Int64)
	if a.Float64 != nil {
		descr, n = "<f8", len(a.Float64)
	}
	if want := elements(a.Shape); want != n {
		return fmt.Errorf("npy: %s: shape %v holds %d values, got %d", path, a.Shape, want, n)
	}
	dims := make([]string, len(a.Shape))
	for i, d := range a.Shape {
		dims[i] = strconv.Itoa(d)
	}
	shape := strings.Join(dims, ", ")
	if len(a.Shape) == 1 {
		shape += ","
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape)
	// Pad so the data starts on a 64-byte boundary, ending the header with a newline.
	total := len(magic) + 4 + len(header) + 1
	header += strings.Repeat(" ", (64-total%64)%64) + "\n"
	var b bytes.Buffer
	b.Write(magic)
	b.Write([]byte{1, 0})
	binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	b.WriteString(header)
	if a.Float64 != nil {
		binary.Write(&b, binary.LittleEndian, a.Float64)
	} else {
		binary.Write(&b, binary.LittleEndian, a.Int64)
	}
	return atomicfile.WriteFile(path, b.Bytes())
}

var (
	descrRe = regexp.MustCompile(`'descr':\s*'([^']*)'`)
	orderRe = regexp.MustCompile(`'fortran_order':\s*(True|False)`)
	shapeRe = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)
)

// Read loads an int64 or float64 array (also int32/float32, widened).
func Read(path string) (Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return Array{}, fmt.Errorf("npy: %w", err)
	}
	defer f.Close()
	a, err := decode(f)
	if err != nil {
		return Array{}, fmt.Errorf("npy: %s: %w", path, err)
	}
	return a, nil
}

func decode(r io.Reader) (Array, error) {
	pre := make([]byte, 8)
	if _, err := io.ReadFull(r, pre); err != nil || !bytes.Equal(pre[:6], magic) {
		return Array{}, errors.New("not a .npy file")
	}
	var hlen int
	switch pre[6] {
	case 1:
		var n uint16
		if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
			return Array{}, err
		}
		hlen = int(n)
	case 2, 3:
		var n uint32
		if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
			return Array{}, err
		}
		hlen = int(n)
	default:
		return Array{}, fmt.Errorf("unsupported .npy version %d", pre[6])
	}
	if hlen > 1<<16 {
		return Array{}, fmt.Errorf("header of %d bytes", hlen)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return Array{}, err
	}
	h := string(hb)
	d, o, s := descrRe.FindStringSubmatch(h), orderRe.FindStringSubmatch(h), shapeRe.FindStringSubmatch(h)
	if d == nil || o == nil || s == nil {
		return Array{}, fmt.Errorf("malformed header %q", h)
	}
	if o[1] == "True" {
		return Array{}, errors.New("Fortran-order arrays are not supported")
	}
	var a Array
	for _, p := range strings.Split(s[1], ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return Array{}, fmt.Errorf("bad shape %q", s[1])
		}
		a.Shape = append(a.Shape, v)
	}
	n := elements(a.Shape)
	if n < 0 || n > maxElements {
		return Array{}, fmt.Errorf("shape %v is too large", a.Shape)
	}
	switch d[1] {
	case "<i8":
		a.Int64 = make([]int64, n)
		return a, binary.Read(r, binary.LittleEndian, a.Int64)
	case "<i4":
		v := make([]int32, n)
		if err := binary.Read(r, binary.LittleEndian, v); err != nil {
			return a, err
		}
		a.Int64 = make([]int64, n)
		for i, x := range v {
			a.Int64[i] = int64(x)
		}
		return a, nil
	case "<f8":
		a.Float64 = make([]float64, n)
		return a, binary.Read(r, binary.LittleEndian, a.Float64)
	case "<f4":
		v := make([]float32, n)
		if err := binary.Read(r, binary.LittleEndian, v); err != nil {
			return a, err
		}
		a.Float64 = make([]float64, n)
		for i, x := range v {
			a.Float64[i] = float64(x)
		}
		return a, nil
	}
	return Array{}, fmt.Errorf("dtype %s is not supported (int64, int32, float64, float32)", d[1])
}

func elements(shape []int) int {
	n := 1
	for _, d := range shape {
		if d != 0 && n > math.MaxInt32/d {
			return -1
		}
		n *= d
	}
	return n
}
