package checkpoint

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
)

// allowedGlobals are the only Python names a checkpoint pickle may refer to: what torch.save
// emits for tensors, parameters and state dicts from PyTorch 1.6 to 2.x. Loading resolves them
// to Go values and never imports or calls Python code.
var allowedGlobals = map[string]bool{
	"collections OrderedDict":                    true,
	"torch._utils _rebuild_tensor":               true,
	"torch._utils _rebuild_tensor_v2":            true,
	"torch._utils _rebuild_parameter":            true,
	"torch._utils _rebuild_parameter_with_state": true,
	"torch Size":            true,
	"torch FloatStorage":    true,
	"torch DoubleStorage":   true,
	"torch HalfStorage":     true,
	"torch BFloat16Storage": true,
	"torch LongStorage":     true,
	"torch IntStorage":      true,
	"torch ShortStorage":    true,
	"torch CharStorage":     true,
	"torch ByteStorage":     true,
	"torch BoolStorage":     true,
}

// scanKind is what the scanner needs to know about a stack value: bytes objects cannot be dict
// keys in the unpickler's hash map, and strings feed STACK_GLOBAL.
type scanKind uint8

const (
	kOther scanKind = iota
	kStr
	kBytes
)

type scanVal struct {
	kind scanKind
	s    string
}

// scanPickle checks a pickle before gopickle runs it. gopickle trusts its input: an odd number
// of items before SETITEMS, a bytes key, an empty LONG1, an opcode of 0xff or a length field
// larger than the data make it panic or allocate without bound. The scanner replays the stack
// shape (not the values) with every length checked against the bytes that are left, and it
// enforces the global allowlist even for the names gopickle resolves on its own.
func scanPickle(p []byte) error {
	var (
		pos   int
		stack []scanVal
		meta  [][]scanVal
		memo  = map[int64]scanVal{}
	)
	need := func(n uint64) ([]byte, error) {
		if n > uint64(len(p)-pos) {
			return nil, fmt.Errorf("pickle truncated: opcode at offset %d needs %d bytes, %d left", pos, n, len(p)-pos)
		}
		b := p[pos : pos+int(n)]
		pos += int(n)
		return b, nil
	}
	line := func() (string, error) {
		i := bytes.IndexByte(p[pos:], '\n')
		if i < 0 {
			return "", fmt.Errorf("pickle truncated: unterminated line at offset %d", pos)
		}
		s := string(p[pos : pos+i])
		pos += i + 1
		return s, nil
	}
	pop := func() (scanVal, error) {
		if len(stack) == 0 {
			return scanVal{}, fmt.Errorf("malformed pickle: stack underflow at offset %d", pos)
		}
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		return v, nil
	}
	popN := func(n int) error {
		for range n {
			if _, err := pop(); err != nil {
				return err
			}
		}
		return nil
	}
	popMark := func() ([]scanVal, error) {
		if len(meta) == 0 {
			return nil, fmt.Errorf("malformed pickle: missing MARK at offset %d", pos)
		}
		items := stack
		stack = meta[len(meta)-1]
		meta = meta[:len(meta)-1]
		return items, nil
	}
	push := func(v scanVal) { stack = append(stack, v) }
	other := scanVal{}
	checkGlobal := func(module, name string) error {
		if !allowedGlobals[module+" "+name] {
			return &UnsupportedGlobalError{Module: module, Name: name}
		}
		return nil
	}
	checkPairs := func(items []scanVal) error {
		if len(items)%2 != 0 {
			return fmt.Errorf("malformed pickle: odd number of dict items at offset %d", pos)
		}
		for i := 0; i < len(items); i += 2 {
			if items[i].kind == kBytes {
				return fmt.Errorf("malformed pickle: bytes used as a dict key at offset %d", pos)
			}
		}
		return nil
	}
	u32 := func() (uint64, error) {
		b, err := need(4)
		if err != nil {
			return 0, err
		}
		return uint64(binary.LittleEndian.Uint32(b)), nil
	}
	u64 := func() (uint64, error) {
		b, err := need(8)
		if err != nil {
			return 0, err
		}
		return binary.LittleEndian.Uint64(b), nil
	}
	getMemo := func(i int64) error {
		v, ok := memo[i]
		if !ok {
			return fmt.Errorf("malformed pickle: memo entry %d read before it was written", i)
		}
		push(v)
		return nil
	}
	putMemo := func(i int64) error {
		if len(stack) == 0 {
			return fmt.Errorf("malformed pickle: stack underflow at offset %d", pos)
		}
		memo[i] = stack[len(stack)-1]
		return nil
	}

	for {
		if pos >= len(p) {
			return fmt.Errorf("pickle truncated: no STOP opcode")
		}
		op := p[pos]
		pos++
		var err error
		switch op {
		case '(': // MARK
			meta = append(meta, stack)
			stack = nil
		case '.': // STOP
			_, err = pop()
			if err == nil {
				return nil
			}
		case '0': // POP; gopickle pops a mark when the stack is empty
			if len(stack) == 0 {
				_, err = popMark()
			} else {
				_, err = pop()
			}
		case '1': // POP_MARK
			_, err = popMark()
		case '2': // DUP
			var v scanVal
			if v, err = pop(); err == nil {
				push(v)
				push(v)
			}
		case 'F', 'I', 'L': // FLOAT, INT, LONG as text
			if _, err = line(); err == nil {
				push(other)
			}
		case 'J': // BININT
			if _, err = need(4); err == nil {
				push(other)
			}
		case 'K': // BININT1
			if _, err = need(1); err == nil {
				push(other)
			}
		case 'M': // BININT2
			if _, err = need(2); err == nil {
				push(other)
			}
		case 'G': // BINFLOAT
			if _, err = need(8); err == nil {
				push(other)
			}
		case 'N', '}', ']', ')', 0x88, 0x89: // NONE, EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE, NEWTRUE, NEWFALSE
			push(other)
		case 'P': // PERSID
			if _, err = line(); err == nil {
				push(other)
			}
		case 'Q': // BINPERSID
			if err = popN(1); err == nil {
				push(other)
			}
		case 'R', 0x81: // REDUCE, NEWOBJ
			if err = popN(2); err == nil {
				push(other)
			}
		case 0x92: // NEWOBJ_EX
			if err = popN(3); err == nil {
				push(other)
			}
		case 'S', 'V': // STRING, UNICODE as text
			var s string
			if s, err = line(); err == nil {
				if op == 'S' {
					if len(s) < 2 || s[0] != s[len(s)-1] || (s[0] != '\'' && s[0] != '"') {
						return fmt.Errorf("malformed pickle: unquoted STRING at offset %d", pos)
					}
					s = s[1 : len(s)-1]
				}
				push(scanVal{kStr, s})
			}
		case 'T', 'X', 'B': // BINSTRING, BINUNICODE, BINBYTES
			var n uint64
			if n, err = u32(); err == nil {
				if op == 'T' && n >= 1<<31 {
					return fmt.Errorf("malformed pickle: negative BINSTRING length")
				}
				var b []byte
				if b, err = need(n); err == nil {
					if op == 'B' {
						push(scanVal{kind: kBytes})
					} else {
						push(scanVal{kStr, string(b)})
					}
				}
			}
		case 'U', 'C', 0x8c: // SHORT_BINSTRING, SHORT_BINBYTES, SHORT_BINUNICODE
			var b []byte
			if b, err = need(1); err == nil {
				if b, err = need(uint64(b[0])); err == nil {
					if op == 'C' {
						push(scanVal{kind: kBytes})
					} else {
						push(scanVal{kStr, string(b)})
					}
				}
			}
		case 0x8d, 0x8e: // BINUNICODE8, BINBYTES8
			var n uint64
			if n, err = u64(); err == nil {
				var b []byte
				if b, err = need(n); err == nil {
					if op == 0x8e {
						push(scanVal{kind: kBytes})
					} else {
						push(scanVal{kStr, string(b)})
					}
				}
			}
		case 0x8a: // LONG1
			var b []byte
			if b, err = need(1); err == nil {
				if b[0] == 0 {
					return fmt.Errorf("malformed pickle: empty LONG1 at offset %d", pos)
				}
				if _, err = need(uint64(b[0])); err == nil {
					push(other)
				}
			}
		case 0x8b: // LONG4
			var n uint64
			if n, err = u32(); err == nil {
				if n == 0 || n >= 1<<31 {
					return fmt.Errorf("malformed pickle: bad LONG4 length at offset %d", pos)
				}
				if _, err = need(n); err == nil {
					push(other)
				}
			}
		case 'a': // APPEND
			if err = popN(2); err == nil {
				push(other)
			}
		case 'e': // APPENDS
			if _, err = popMark(); err == nil {
				if err = popN(1); err == nil {
					push(other)
				}
			}
		case 'b': // BUILD
			if err = popN(1); err == nil && len(stack) == 0 {
				err = fmt.Errorf("malformed pickle: stack underflow at offset %d", pos)
			}
		case 'c', 'i': // GLOBAL, INST
			var module, name string
			if module, err = line(); err != nil {
				break
			}
			if name, err = line(); err != nil {
				break
			}
			if err = checkGlobal(module, name); err != nil {
				return err
			}
			if op == 'i' {
				_, err = popMark()
			}
			push(other)
		case 0x93: // STACK_GLOBAL
			var name, module scanVal
			if name, err = pop(); err != nil {
				break
			}
			if module, err = pop(); err != nil {
				break
			}
			if name.kind != kStr || module.kind != kStr {
				return fmt.Errorf("malformed pickle: STACK_GLOBAL needs two strings at offset %d", pos)
			}
			if err = checkGlobal(module.s, name.s); err != nil {
				return err
			}
			push(other)
		case 'o': // OBJ
			var items []scanVal
			if items, err = popMark(); err == nil {
				if len(items) == 0 {
					return fmt.Errorf("malformed pickle: OBJ without a class at offset %d", pos)
				}
				push(other)
			}
		case 'd': // DICT
			var items []scanVal
			if items, err = popMark(); err == nil {
				if err = checkPairs(items); err == nil {
					push(other)
				}
			}
		case 'u': // SETITEMS
			var items []scanVal
			if items, err = popMark(); err == nil {
				if err = checkPairs(items); err == nil {
					if err = popN(1); err == nil {
						push(other)
					}
				}
			}
		case 's': // SETITEM
			var k scanVal
			if err = popN(1); err != nil {
				break
			}
			if k, err = pop(); err != nil {
				break
			}
			if k.kind == kBytes {
				return fmt.Errorf("malformed pickle: bytes used as a dict key at offset %d", pos)
			}
			if len(stack) == 0 {
				err = fmt.Errorf("malformed pickle: stack underflow at offset %d", pos)
			}
		case 'l', 't': // LIST, TUPLE
			if _, err = popMark(); err == nil {
				push(other)
			}
		case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
			if err = popN(int(op - 0x84)); err == nil {
				push(other)
			}
		case 'g', 'p': // GET, PUT with a decimal argument
			var s string
			if s, err = line(); err != nil {
				break
			}
			var i int64
			if i, err = strconv.ParseInt(s, 10, 32); err != nil || i < 0 {
				return fmt.Errorf("malformed pickle: bad memo index %q at offset %d", s, pos)
			}
			if op == 'g' {
				err = getMemo(i)
			} else {
				err = putMemo(i)
			}
		case 'h', 'q': // BINGET, BINPUT
			var b []byte
			if b, err = need(1); err == nil {
				if op == 'h' {
					err = getMemo(int64(b[0]))
				} else {
					err = putMemo(int64(b[0]))
				}
			}
		case 'j', 'r': // LONG_BINGET, LONG_BINPUT
			var n uint64
			if n, err = u32(); err == nil {
				if op == 'j' {
					err = getMemo(int64(n))
				} else {
					err = putMemo(int64(n))
				}
			}
		case 0x94: // MEMOIZE numbers entries by the memo's current size, as gopickle does
			err = putMemo(int64(len(memo)))
		case 0x80: // PROTO
			var b []byte
			if b, err = need(1); err == nil && b[0] > 5 {
				return fmt.Errorf("unsupported pickle protocol %d", b[0])
			}
		case 0x95: // FRAME only groups the opcodes that follow, which are scanned in line
			var n uint64
			if n, err = u64(); err == nil && n > uint64(len(p)-pos) {
				return fmt.Errorf("pickle truncated: frame of %d bytes, %d left", n, len(p)-pos)
			}
		case 0x82, 0x83, 0x84:
			return fmt.Errorf("pickle uses the copyreg extension registry, which checkpoints never need")
		case 0x8f, 0x90, 0x91:
			return fmt.Errorf("pickle contains a set; only tensors and plain containers can be loaded")
		case 0x96, 0x97, 0x98:
			return fmt.Errorf("pickle uses protocol 5 out-of-band buffers, which checkpoints never need")
		default:
			return fmt.Errorf("malformed pickle: unknown opcode 0x%02x at offset %d", op, pos-1)
		}
		if err != nil {
			return err
		}
	}
}
