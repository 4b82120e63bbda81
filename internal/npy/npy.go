// Package npy reads and writes NumPy .npy files (format 1.0, little-endian, C order) of float64
// and int64 arrays: the files the official CSAD pseudo-label pipeline keeps under info/.
package npy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/csad-go/csad/internal/atomicfile"
)

// Array is an array in NumPy's .npy format (version 1.0, little-endian,
// C order) holding float64 ('<f8') or int64 ('<i8') values: the dtypes of
// the official info/ files. Exactly one of F64 and I64 is set.
type Array struct {
	// Shape is empty for a 0-d array (a NumPy scalar such as
	// component_num_mode.npy).
	Shape []int
	F64   []float64
	I64   []int64
}

func (a Array) size() (int, error) {
	n := 1
	for _, d := range a.Shape {
		if d < 0 || (d > 0 && n > math.MaxInt32/d) {
			return 0, fmt.Errorf("npy: shape %v is negative or too large", a.Shape)
		}
		n *= d
	}
	return n, nil
}

// Write writes a atomically to path.
func Write(path string, a Array) error {
	n, err := a.size()
	if err != nil {
		return err
	}
	var descr string
	switch {
	case a.F64 != nil && a.I64 == nil && len(a.F64) == n:
		descr = "<f8"
	case a.I64 != nil && a.F64 == nil && len(a.I64) == n:
		descr = "<i8"
	case n == 0 && a.F64 == nil && a.I64 == nil:
		descr = "<f8"
	default:
		return fmt.Errorf("npy: %s: set exactly one of F64 (%d values) and I64 (%d values), with %d values for shape %v", path, len(a.F64), len(a.I64), n, a.Shape)
	}
	dims := make([]string, len(a.Shape))
	for i, d := range a.Shape {
		dims[i] = strconv.Itoa(d)
	}
	shape := "(" + strings.Join(dims, ", ")
	if len(dims) == 1 {
		shape += ","
	}
	shape += ")"
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
	// NumPy pads the header with spaces and a newline so that the data
	// starts at a multiple of 64 bytes.
	total := 10 + len(header) + 1
	header += strings.Repeat(" ", (64-total%64)%64) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	if err := binary.Write(&b, binary.LittleEndian, uint16(len(header))); err != nil {
		return err
	}
	b.WriteString(header)
	var buf [8]byte
	if descr == "<f8" {
		for _, v := range a.F64 {
			binary.LittleEndian.PutUint64(buf[:], math.Float64bits(v))
			b.Write(buf[:])
		}
	} else {
		for _, v := range a.I64 {
			binary.LittleEndian.PutUint64(buf[:], uint64(v))
			b.Write(buf[:])
		}
	}
	if err := atomicfile.WriteFile(path, b.Bytes()); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	return nil
}

var npyHeader = regexp.MustCompile(`^\{'descr': '([<|>][fi]8)', 'fortran_order': (True|False), 'shape': \(([0-9, ]*)\), \}\s*$`)

// Read reads a file written by Write or by numpy.save of a
// little-endian float64 or int64 C-order array.
func Read(path string) (Array, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Array{}, fmt.Errorf("npy: %w", err)
	}
	a, err := decode(data)
	if err != nil {
		return Array{}, fmt.Errorf("npy: %s: %w", path, err)
	}
	return a, nil
}

func decode(data []byte) (Array, error) {
	if len(data) < 10 || string(data[:6]) != "\x93NUMPY" {
		return Array{}, fmt.Errorf("not a .npy file (bad magic)")
	}
	if data[6] != 1 {
		return Array{}, fmt.Errorf("npy version %d.%d not supported (only 1.0)", data[6], data[7])
	}
	hl := int(binary.LittleEndian.Uint16(data[8:10]))
	if 10+hl > len(data) {
		return Array{}, fmt.Errorf("npy header of %d bytes runs past the end of the file: %w", hl, io.ErrUnexpectedEOF)
	}
	m := npyHeader.FindStringSubmatch(string(data[10 : 10+hl]))
	if m == nil {
		return Array{}, fmt.Errorf("npy header %q is not a little-endian float64/int64 array header", data[10:10+hl])
	}
	if m[1][0] == '>' {
		return Array{}, fmt.Errorf("big-endian npy (%s) not supported", m[1])
	}
	if m[2] == "True" {
		return Array{}, fmt.Errorf("fortran-order npy not supported")
	}
	var a Array
	for _, f := range strings.Split(m[3], ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		d, err := strconv.Atoi(f)
		if err != nil {
			return Array{}, fmt.Errorf("npy shape %q: %w", m[3], err)
		}
		a.Shape = append(a.Shape, d)
	}
	n, err := a.size()
	if err != nil {
		return Array{}, err
	}
	body := data[10+hl:]
	if len(body) != 8*n {
		return Array{}, fmt.Errorf("npy data is %d bytes, shape %v needs %d", len(body), a.Shape, 8*n)
	}
	if m[1][1] == 'f' {
		a.F64 = make([]float64, n)
		for i := range a.F64 {
			a.F64[i] = math.Float64frombits(binary.LittleEndian.Uint64(body[8*i:]))
		}
	} else {
		a.I64 = make([]int64, n)
		for i := range a.I64 {
			a.I64[i] = int64(binary.LittleEndian.Uint64(body[8*i:]))
		}
	}
	return a, nil
}
