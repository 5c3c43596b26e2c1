// Package pickle is a restricted unpickler for PyTorch checkpoints (docs/security.md D18). It understands
// the subset of pickle protocols 2–5 that torch.save writes for state dicts: plain containers, scalars,
// strings, tensor storages (persistent ids) and the tensor rebuild functions. Every other GLOBAL is refused,
// nothing is ever called, and stack, memo, container and string sizes are bounded, so a hostile file costs at
// most a bounded amount of memory and time and yields an error. ReadTorch reads the pickle out of a
// torch.save file (zip or legacy).
package pickle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"
)

// ErrRefused means the pickle references a callable outside the allow-list.
var ErrRefused = errors.New("pickle: refused")

// Limits bound the work one pickle may cause.
type Limits struct {
	MaxStack int // values on the stack plus marks
	MaxMemo  int // memo entries
	MaxItems int // container elements created in total, and values visited by Walk
	MaxDepth int // nesting depth when walking the result
	// MaxDuration bounds the time spent unpickling, and again walking the result (0: no bound).
	MaxDuration time.Duration
}

// DefaultLimits fit any real state dict (tens of thousands of tensors) with a wide margin.
var DefaultLimits = Limits{MaxStack: 1 << 20, MaxMemo: 1 << 21, MaxItems: 1 << 23, MaxDepth: 64, MaxDuration: 30 * time.Second}

// checkEvery is how many steps pass between looks at the clock.
const checkEvery = 4096

// ErrBudget means a pickle or its result needed more work than its Limits allow.
var ErrBudget = errors.New("pickle: over budget")

// Walk visits what a state dict holds: it enters every *Dict below root (its keys make the path, outermost
// first; the slice is reused between calls) and hands every other value to fn. A state dict is a tree, so a
// dict reached a second time — shared between two keys, or holding itself — is refused: following shared
// dicts would expand a few hundred bytes of pickle into an exponential number of paths (a chain of 60 dicts
// each holding the next twice has 2^60). Walk also refuses more than lim.MaxDepth levels and lim.MaxItems
// values, and gives up after lim.MaxDuration.
func Walk(root *Dict, lim Limits, fn func(path []any, v any) error) error {
	w := walker{lim: lim, fn: fn, seen: map[*Dict]bool{}}
	if lim.MaxDuration > 0 {
		w.deadline = time.Now().Add(lim.MaxDuration)
	}
	return w.dict(root, nil)
}

type walker struct {
	lim      Limits
	fn       func([]any, any) error
	seen     map[*Dict]bool
	visited  int
	deadline time.Time
}

func (w *walker) dict(d *Dict, path []any) error {
	if w.seen[d] {
		return fmt.Errorf("%w: a dict is reached twice (shared or cyclic); a state dict is a tree", ErrBudget)
	}
	w.seen[d] = true
	if len(path) >= w.lim.MaxDepth {
		return fmt.Errorf("%w: nested more than %d levels", ErrBudget, w.lim.MaxDepth)
	}
	for i, k := range d.Keys {
		if w.visited++; w.visited > w.lim.MaxItems {
			return fmt.Errorf("%w: more than %d values", ErrBudget, w.lim.MaxItems)
		}
		if w.visited%checkEvery == 0 && !w.deadline.IsZero() && time.Now().After(w.deadline) {
			return fmt.Errorf("%w: walking took longer than %v", ErrBudget, w.lim.MaxDuration)
		}
		p := append(path, k)
		var err error
		if sub, ok := d.Values[i].(*Dict); ok {
			err = w.dict(sub, p)
		} else {
			err = w.fn(p, d.Values[i])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// None is pickle's None.
type None struct{}

// Tuple is an immutable sequence.
type Tuple []any

// List is a mutable sequence (a pointer so that memoized lists can be appended to).
type List struct{ Items []any }

// Dict keeps insertion order, as Python's dict and OrderedDict do. Keys are strings, ints or other
// hashable scalars; unhashable keys are refused.
type Dict struct {
	Keys   []any
	Values []any
	index  map[any]int
}

// Get returns the value stored under a key.
func (d *Dict) Get(k any) (any, bool) {
	if i, ok := d.index[k]; ok {
		return d.Values[i], true
	}
	return nil, false
}

func (d *Dict) set(k, v any) error {
	switch k.(type) {
	case string, int64, float64, bool, None:
	default:
		return fmt.Errorf("pickle: unsupported dict key type %T", k)
	}
	if d.index == nil {
		d.index = map[any]int{}
	}
	if i, ok := d.index[k]; ok {
		d.Values[i] = v
		return nil
	}
	d.index[k] = len(d.Keys)
	d.Keys = append(d.Keys, k)
	d.Values = append(d.Values, v)
	return nil
}

// Global is an allowed class or function reference.
type Global struct{ Module, Name string }

// Storage is a tensor storage named by a persistent id: ('storage', StorageType, key, location, numel).
type Storage struct {
	DType string // e.g. "F16", from the storage class
	Key   string // the archive entry under data/
	Numel int64
}

// Tensor is a rebuilt tensor's description; its data is never read.
type Tensor struct {
	Storage *Storage
	Offset  int64
	Shape   []int64
	Stride  []int64
}

// storageDTypes maps torch storage classes to safetensors dtype names.
var storageDTypes = map[string]string{
	"FloatStorage": "F32", "HalfStorage": "F16", "BFloat16Storage": "BF16", "DoubleStorage": "F64",
	"LongStorage": "I64", "IntStorage": "I32", "ShortStorage": "I16", "CharStorage": "I8", "ByteStorage": "U8",
	"BoolStorage": "BOOL", "UntypedStorage": "U8",
}

// allowedGlobal reports whether module.name may appear in a checkpoint.
func allowedGlobal(module, name string) bool {
	switch module {
	case "torch":
		_, ok := storageDTypes[name]
		return ok
	case "torch._utils":
		return name == "_rebuild_tensor_v2" || name == "_rebuild_tensor" || name == "_rebuild_parameter"
	case "collections":
		return name == "OrderedDict"
	}
	return false
}

type unpickler struct {
	data     []byte
	pos      int
	stack    []any
	marks    []int
	memo     map[int64]any
	items    int
	limits   Limits
	steps    int
	deadline time.Time
}

// Unpickle decodes one pickle from data under the limits. The result is made of None, bool, int64,
// *big.Int, float64, string, []byte, Tuple, *List, *Dict, *Tensor and *Storage values.
func Unpickle(data []byte, limits Limits) (any, error) {
	u := &unpickler{data: data, memo: map[int64]any{}, limits: limits}
	return u.run()
}

func (u *unpickler) read(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, fmt.Errorf("pickle: truncated at byte %d (want %d bytes)", u.pos, n)
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

func (u *unpickler) readLine() (string, error) {
	for i := u.pos; i < len(u.data); i++ {
		if u.data[i] == '\n' {
			s := string(u.data[u.pos:i])
			u.pos = i + 1
			return s, nil
		}
	}
	return "", fmt.Errorf("pickle: unterminated line at byte %d", u.pos)
}

func (u *unpickler) push(v any) error {
	if len(u.stack) >= u.limits.MaxStack {
		return errors.New("pickle: stack limit exceeded")
	}
	u.stack = append(u.stack, v)
	return nil
}

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) <= u.marks[len(u.marks)-1]) {
		return nil, errors.New("pickle: stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) <= u.marks[len(u.marks)-1]) {
		return nil, errors.New("pickle: stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark returns the values above the last mark and removes them with the mark.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, errors.New("pickle: no mark")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	vals := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return vals, nil
}

func (u *unpickler) count(n int) error {
	u.items += n
	if u.items > u.limits.MaxItems {
		return errors.New("pickle: item limit exceeded")
	}
	return nil
}

func (u *unpickler) memoize(idx int64, v any) error {
	if _, ok := u.memo[idx]; !ok && len(u.memo) >= u.limits.MaxMemo {
		return errors.New("pickle: memo limit exceeded")
	}
	u.memo[idx] = v
	return nil
}

func (u *unpickler) run() (any, error) {
	if u.limits.MaxDuration > 0 && u.deadline.IsZero() {
		u.deadline = time.Now().Add(u.limits.MaxDuration)
	}
	for {
		if u.steps++; u.steps%checkEvery == 0 && !u.deadline.IsZero() && time.Now().After(u.deadline) {
			return nil, fmt.Errorf("%w: unpickling took longer than %v", ErrBudget, u.limits.MaxDuration)
		}
		opb, err := u.read(1)
		if err != nil {
			return nil, err
		}
		op := opb[0]
		if err := u.step(op); err != nil {
			if errors.Is(err, errStop) {
				if len(u.stack) != 1 || len(u.marks) != 0 {
					return nil, errors.New("pickle: STOP with a malformed stack")
				}
				return u.stack[0], nil
			}
			return nil, err
		}
	}
}

var errStop = errors.New("stop")

func (u *unpickler) step(op byte) error {
	switch op {
	case 0x80: // PROTO
		b, err := u.read(1)
		if err != nil {
			return err
		}
		if b[0] < 2 || b[0] > 5 {
			return fmt.Errorf("pickle: protocol %d not supported", b[0])
		}
	case 0x95: // FRAME: the length is only a hint
		_, err := u.read(8)
		return err
	case '.': // STOP
		return errStop
	case '(': // MARK
		if len(u.marks) >= u.limits.MaxStack {
			return errors.New("pickle: mark limit exceeded")
		}
		u.marks = append(u.marks, len(u.stack))
	case '0': // POP
		if len(u.marks) > 0 && len(u.stack) == u.marks[len(u.marks)-1] {
			u.marks = u.marks[:len(u.marks)-1] // POP of a bare mark, as CPython does
			return nil
		}
		_, err := u.pop()
		return err
	case '1': // POP_MARK
		_, err := u.popMark()
		return err
	case '2': // DUP
		v, err := u.top()
		if err != nil {
			return err
		}
		return u.push(v)
	case 'N':
		return u.push(None{})
	case 0x88: // NEWTRUE
		return u.push(true)
	case 0x89: // NEWFALSE
		return u.push(false)
	case 'J': // BININT
		b, err := u.read(4)
		if err != nil {
			return err
		}
		return u.push(int64(int32(binary.LittleEndian.Uint32(b))))
	case 'K': // BININT1
		b, err := u.read(1)
		if err != nil {
			return err
		}
		return u.push(int64(b[0]))
	case 'M': // BININT2
		b, err := u.read(2)
		if err != nil {
			return err
		}
		return u.push(int64(binary.LittleEndian.Uint16(b)))
	case 0x8a, 0x8b: // LONG1, LONG4
		var n int
		if op == 0x8a {
			b, err := u.read(1)
			if err != nil {
				return err
			}
			n = int(b[0])
		} else {
			b, err := u.read(4)
			if err != nil {
				return err
			}
			n32 := int32(binary.LittleEndian.Uint32(b))
			if n32 < 0 || n32 > 1<<16 {
				return fmt.Errorf("pickle: LONG4 length %d out of range", n32)
			}
			n = int(n32)
		}
		b, err := u.read(n)
		if err != nil {
			return err
		}
		return u.push(decodeLong(b))
	case 'I', 'L': // INT, LONG (text)
		line, err := u.readLine()
		if err != nil {
			return err
		}
		switch line {
		case "00":
			return u.push(false)
		case "01":
			return u.push(true)
		}
		if len(line) > 0 && line[len(line)-1] == 'L' {
			line = line[:len(line)-1]
		}
		n, err := strconv.ParseInt(line, 10, 64)
		if err != nil {
			return fmt.Errorf("pickle: bad integer %q", line)
		}
		return u.push(n)
	case 'G': // BINFLOAT
		b, err := u.read(8)
		if err != nil {
			return err
		}
		return u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case 'X', 0x8c, 0x8d: // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
		n, err := u.readLen(op == 0x8c, op == 0x8d)
		if err != nil {
			return err
		}
		b, err := u.read(n)
		if err != nil {
			return err
		}
		return u.push(string(b))
	case 'B', 'C', 0x8e, 'T', 'U': // BINBYTES, SHORT_BINBYTES, BINBYTES8, BINSTRING, SHORT_BINSTRING
		n, err := u.readLen(op == 'C' || op == 'U', op == 0x8e)
		if err != nil {
			return err
		}
		b, err := u.read(n)
		if err != nil {
			return err
		}
		if op == 'T' || op == 'U' {
			return u.push(string(b)) // Python 2 str; torch keys decode as str
		}
		return u.push(append([]byte(nil), b...))
	case 0x96: // BYTEARRAY8
		n, err := u.readLen(false, true)
		if err != nil {
			return err
		}
		b, err := u.read(n)
		if err != nil {
			return err
		}
		return u.push(append([]byte(nil), b...))
	case ')': // EMPTY_TUPLE
		return u.push(Tuple{})
	case ']': // EMPTY_LIST
		return u.push(&List{})
	case '}': // EMPTY_DICT
		return u.push(&Dict{})
	case 0x8f: // EMPTY_SET: kept as a list; sets never matter for a state dict
		return u.push(&List{})
	case 't': // TUPLE
		vals, err := u.popMark()
		if err != nil {
			return err
		}
		if err := u.count(len(vals)); err != nil {
			return err
		}
		return u.push(Tuple(vals))
	case 0x85, 0x86, 0x87: // TUPLE1..3
		n := int(op-0x85) + 1
		vals := make([]any, n)
		for i := n - 1; i >= 0; i-- {
			v, err := u.pop()
			if err != nil {
				return err
			}
			vals[i] = v
		}
		return u.push(Tuple(vals))
	case 'l': // LIST
		vals, err := u.popMark()
		if err != nil {
			return err
		}
		if err := u.count(len(vals)); err != nil {
			return err
		}
		return u.push(&List{Items: vals})
	case 0x91: // FROZENSET
		vals, err := u.popMark()
		if err != nil {
			return err
		}
		if err := u.count(len(vals)); err != nil {
			return err
		}
		return u.push(&List{Items: vals})
	case 'd': // DICT
		vals, err := u.popMark()
		if err != nil {
			return err
		}
		d := &Dict{}
		if err := u.fillDict(d, vals); err != nil {
			return err
		}
		return u.push(d)
	case 'a': // APPEND
		v, err := u.pop()
		if err != nil {
			return err
		}
		return u.appendTo([]any{v})
	case 'e', 0x90: // APPENDS, ADDITEMS
		vals, err := u.popMark()
		if err != nil {
			return err
		}
		return u.appendTo(vals)
	case 's': // SETITEM
		v, err := u.pop()
		if err != nil {
			return err
		}
		k, err := u.pop()
		if err != nil {
			return err
		}
		d, err := u.topDict()
		if err != nil {
			return err
		}
		return u.fillDict(d, []any{k, v})
	case 'u': // SETITEMS
		vals, err := u.popMark()
		if err != nil {
			return err
		}
		d, err := u.topDict()
		if err != nil {
			return err
		}
		return u.fillDict(d, vals)
	case 'q', 'r': // BINPUT, LONG_BINPUT
		idx, err := u.readIndex(op == 'r')
		if err != nil {
			return err
		}
		v, err := u.top()
		if err != nil {
			return err
		}
		return u.memoize(idx, v)
	case 0x94: // MEMOIZE
		v, err := u.top()
		if err != nil {
			return err
		}
		return u.memoize(int64(len(u.memo)), v)
	case 'p': // PUT (text)
		idx, err := u.readTextIndex()
		if err != nil {
			return err
		}
		v, err := u.top()
		if err != nil {
			return err
		}
		return u.memoize(idx, v)
	case 'h', 'j': // BINGET, LONG_BINGET
		idx, err := u.readIndex(op == 'j')
		if err != nil {
			return err
		}
		return u.get(idx)
	case 'g': // GET (text)
		idx, err := u.readTextIndex()
		if err != nil {
			return err
		}
		return u.get(idx)
	case 'c': // GLOBAL
		module, err := u.readLine()
		if err != nil {
			return err
		}
		name, err := u.readLine()
		if err != nil {
			return err
		}
		return u.global(module, name)
	case 0x93: // STACK_GLOBAL
		nv, err := u.pop()
		if err != nil {
			return err
		}
		mv, err := u.pop()
		if err != nil {
			return err
		}
		module, ok1 := mv.(string)
		name, ok2 := nv.(string)
		if !ok1 || !ok2 {
			return errors.New("pickle: STACK_GLOBAL needs two strings")
		}
		return u.global(module, name)
	case 'Q': // BINPERSID
		pid, err := u.pop()
		if err != nil {
			return err
		}
		s, err := persistentStorage(pid)
		if err != nil {
			return err
		}
		return u.push(s)
	case 'R': // REDUCE
		args, err := u.pop()
		if err != nil {
			return err
		}
		fn, err := u.pop()
		if err != nil {
			return err
		}
		tuple, ok := args.(Tuple)
		if !ok {
			return errors.New("pickle: REDUCE arguments are not a tuple")
		}
		v, err := u.reduce(fn, tuple)
		if err != nil {
			return err
		}
		return u.push(v)
	case 'b': // BUILD: only state that adds nothing (tensor hooks, OrderedDict attributes) is accepted
		state, err := u.pop()
		if err != nil {
			return err
		}
		obj, err := u.top()
		if err != nil {
			return err
		}
		switch obj.(type) {
		case *Tensor, *Dict:
			_ = state
			return nil
		}
		return fmt.Errorf("%w: BUILD on %T", ErrRefused, obj)
	case 0x81, 0x92: // NEWOBJ, NEWOBJ_EX
		return fmt.Errorf("%w: object construction (NEWOBJ)", ErrRefused)
	case 'i', 'o': // INST, OBJ
		return fmt.Errorf("%w: object construction (INST/OBJ)", ErrRefused)
	case 'P': // PERSID (text)
		return fmt.Errorf("%w: text persistent ids", ErrRefused)
	case 0x82, 0x83, 0x84: // EXT1, EXT2, EXT4
		return fmt.Errorf("%w: extension registry", ErrRefused)
	case 0x97, 0x98: // NEXT_BUFFER, READONLY_BUFFER
		return fmt.Errorf("%w: out-of-band buffers", ErrRefused)
	default:
		return fmt.Errorf("pickle: unsupported opcode 0x%02x at byte %d", op, u.pos-1)
	}
	return nil
}

func (u *unpickler) readLen(short, eight bool) (int, error) {
	switch {
	case short:
		b, err := u.read(1)
		if err != nil {
			return 0, err
		}
		return int(b[0]), nil
	case eight:
		b, err := u.read(8)
		if err != nil {
			return 0, err
		}
		n := binary.LittleEndian.Uint64(b)
		if n > uint64(len(u.data)) {
			return 0, fmt.Errorf("pickle: length %d beyond the data", n)
		}
		return int(n), nil
	default:
		b, err := u.read(4)
		if err != nil {
			return 0, err
		}
		return int(binary.LittleEndian.Uint32(b)), nil
	}
}

// readTextIndex reads the decimal memo index of the text-protocol PUT and GET opcodes.
func (u *unpickler) readTextIndex() (int64, error) {
	line, err := u.readLine()
	if err != nil {
		return 0, err
	}
	idx, err := strconv.ParseInt(line, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("pickle: bad memo index %q", line)
	}
	return idx, nil
}

func (u *unpickler) readIndex(long bool) (int64, error) {
	if long {
		b, err := u.read(4)
		if err != nil {
			return 0, err
		}
		return int64(binary.LittleEndian.Uint32(b)), nil
	}
	b, err := u.read(1)
	if err != nil {
		return 0, err
	}
	return int64(b[0]), nil
}

func (u *unpickler) get(idx int64) error {
	v, ok := u.memo[idx]
	if !ok {
		return fmt.Errorf("pickle: memo index %d not set", idx)
	}
	return u.push(v)
}

func (u *unpickler) topDict() (*Dict, error) {
	v, err := u.top()
	if err != nil {
		return nil, err
	}
	d, ok := v.(*Dict)
	if !ok {
		return nil, fmt.Errorf("pickle: SETITEM on %T", v)
	}
	return d, nil
}

func (u *unpickler) fillDict(d *Dict, kv []any) error {
	if len(kv)%2 != 0 {
		return errors.New("pickle: odd number of dict items")
	}
	if err := u.count(len(kv) / 2); err != nil {
		return err
	}
	for i := 0; i < len(kv); i += 2 {
		if err := d.set(kv[i], kv[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func (u *unpickler) appendTo(vals []any) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	l, ok := v.(*List)
	if !ok {
		return fmt.Errorf("pickle: APPEND on %T", v)
	}
	if err := u.count(len(vals)); err != nil {
		return err
	}
	l.Items = append(l.Items, vals...)
	return nil
}

func (u *unpickler) global(module, name string) error {
	if !allowedGlobal(module, name) {
		return fmt.Errorf("%w: global %s.%s is not allowed in a model file", ErrRefused, module, name)
	}
	return u.push(Global{Module: module, Name: name})
}

// reduce applies one of the allowed callables without executing anything: it builds the value the callable
// would have returned.
func (u *unpickler) reduce(fn any, args Tuple) (any, error) {
	g, ok := fn.(Global)
	if !ok {
		return nil, fmt.Errorf("%w: REDUCE on %T", ErrRefused, fn)
	}
	switch g.Module + "." + g.Name {
	case "collections.OrderedDict":
		if len(args) != 0 {
			return nil, errors.New("pickle: OrderedDict with arguments")
		}
		return &Dict{}, nil
	case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
		if len(args) < 4 {
			return nil, errors.New("pickle: _rebuild_tensor with too few arguments")
		}
		st, ok := args[0].(*Storage)
		if !ok {
			return nil, errors.New("pickle: tensor without a storage")
		}
		off, ok := args[1].(int64)
		if !ok || off < 0 {
			return nil, errors.New("pickle: bad tensor offset")
		}
		shape, err := intTuple(args[2])
		if err != nil {
			return nil, fmt.Errorf("pickle: tensor shape: %w", err)
		}
		stride, err := intTuple(args[3])
		if err != nil {
			return nil, fmt.Errorf("pickle: tensor stride: %w", err)
		}
		if err := u.count(len(shape)); err != nil {
			return nil, err
		}
		return &Tensor{Storage: st, Offset: off, Shape: shape, Stride: stride}, nil
	case "torch._utils._rebuild_parameter":
		if len(args) < 1 {
			return nil, errors.New("pickle: _rebuild_parameter without data")
		}
		if _, ok := args[0].(*Tensor); !ok {
			return nil, errors.New("pickle: parameter data is not a tensor")
		}
		return args[0], nil
	}
	return nil, fmt.Errorf("%w: %s.%s cannot be called", ErrRefused, g.Module, g.Name)
}

func intTuple(v any) ([]int64, error) {
	t, ok := v.(Tuple)
	if !ok {
		return nil, fmt.Errorf("not a tuple (%T)", v)
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf("element %d is not a non-negative int", i)
		}
		out[i] = n
	}
	return out, nil
}

// persistentStorage decodes torch's ('storage', StorageType, key, location, numel) persistent id.
func persistentStorage(pid any) (*Storage, error) {
	t, ok := pid.(Tuple)
	if !ok || len(t) < 5 {
		return nil, fmt.Errorf("%w: unexpected persistent id", ErrRefused)
	}
	if tag, _ := t[0].(string); tag != "storage" {
		return nil, fmt.Errorf("%w: persistent id of kind %v", ErrRefused, t[0])
	}
	g, ok := t[1].(Global)
	if !ok || g.Module != "torch" {
		return nil, fmt.Errorf("%w: storage type", ErrRefused)
	}
	key, ok := t[2].(string)
	if !ok {
		return nil, errors.New("pickle: storage key is not a string")
	}
	numel, ok := t[4].(int64)
	if !ok || numel < 0 {
		return nil, errors.New("pickle: storage size is not an int")
	}
	return &Storage{DType: storageDTypes[g.Name], Key: key, Numel: numel}, nil
}

// decodeLong decodes pickle's little-endian two's-complement integers.
func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		if b[len(b)-1]&0x80 != 0 && len(b) < 8 {
			v |= ^uint64(0) << (8 * uint(len(b)))
		}
		return int64(v)
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	n := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return n
}
