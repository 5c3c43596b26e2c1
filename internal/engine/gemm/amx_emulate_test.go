package gemm

import (
	"fmt"
	"math"
	"math/big"
	"strings"
	"unsafe"
)

// A Go emulation of the AMX tile instructions the kernel uses, after the
// pseudo-code of Intel's Architecture Instruction Set Extensions reference
// (TILELOADD, TILESTORED, TILEZERO, TDPBF16PS, LDTILECFG, TILERELEASE), and
// the kernel's instruction sequence as data (amxProg*), which
// emulatedAMXBody executes and TestAMXKernelListing compares with the
// disassembly of amxKernel32x32. Faults the hardware would raise (#UD for
// mismatched tile shapes or an unconfigured tile state, #GP for a bad
// configuration, a page fault for memory the kernel was not given) panic.

// tileMachine is the tile state of one thread.
type tileMachine struct {
	configured bool
	rows       [8]int
	colsb      [8]int
	tmm        [8][amxTileRows][amxTileRowSize / 4]uint32
	regions    []memRegion
}

// memRegion is memory the kernel may touch: [lo, hi), writable or not.
type memRegion struct {
	name     string
	p        unsafe.Pointer // at lo
	lo, hi   uintptr
	writable bool
}

func (m *tileMachine) allow(name string, p unsafe.Pointer, bytes int, writable bool) {
	if bytes > 0 {
		m.regions = append(m.regions, memRegion{name, p, uintptr(p), uintptr(p) + uintptr(bytes), writable})
	}
}

// access returns the n bytes at addr, panicking unless one region holds them.
func (m *tileMachine) access(addr uintptr, n int, write bool) []byte {
	for _, r := range m.regions {
		if addr >= r.lo && addr+uintptr(n) <= r.hi {
			if write && !r.writable {
				panic(fmt.Sprintf("amx: write of %d bytes at %s+%d, which is read-only", n, r.name, addr-r.lo))
			}
			return unsafe.Slice((*byte)(unsafe.Add(r.p, addr-r.lo)), n)
		}
	}
	var near []string
	for _, r := range m.regions {
		near = append(near, fmt.Sprintf("%s [%#x, %#x)", r.name, r.lo, r.hi))
	}
	panic(fmt.Sprintf("amx: access of %d bytes at %#x outside the kernel's memory (%s)", n, addr, strings.Join(near, ", ")))
}

// ldtilecfg loads a palette-1 configuration (#GP on a bad one) and zeroes
// the tiles.
func (m *tileMachine) ldtilecfg(cfg []byte) {
	if cfg[0] != 1 {
		panic(fmt.Sprintf("amx: #GP: palette %d", cfg[0]))
	}
	if cfg[1] != 0 {
		panic(fmt.Sprintf("amx: #GP: start row %d", cfg[1]))
	}
	for i := 2; i < 16; i++ {
		if cfg[i] != 0 {
			panic(fmt.Sprintf("amx: #GP: reserved byte %d is %d", i, cfg[i]))
		}
	}
	*m = tileMachine{regions: m.regions, configured: true}
	for t := range 16 {
		colsb := int(cfg[16+2*t]) | int(cfg[17+2*t])<<8
		rows := int(cfg[48+t])
		if t >= 8 {
			if colsb != 0 || rows != 0 {
				panic(fmt.Sprintf("amx: #GP: tile %d configured beyond the 8 of palette 1", t))
			}
			continue
		}
		if colsb > amxTileRowSize || rows > amxTileRows || (colsb == 0) != (rows == 0) {
			panic(fmt.Sprintf("amx: #GP: tile %d is %d rows × %d bytes", t, rows, colsb))
		}
		m.rows[t], m.colsb[t] = rows, colsb
	}
}

func (m *tileMachine) tile(t int) {
	if !m.configured {
		panic("amx: #UD: tile instruction without a tile configuration")
	}
	if t < 0 || t >= 8 || m.rows[t] == 0 {
		panic(fmt.Sprintf("amx: #UD: tile %d is not configured", t))
	}
}

// tileloadd loads rows[t] rows of colsb[t] bytes from base, base+stride, …
// and zeroes the rest of the tile.
func (m *tileMachine) tileloadd(t int, base uintptr, stride int) {
	m.tile(t)
	m.tmm[t] = [amxTileRows][amxTileRowSize / 4]uint32{}
	for r := range m.rows[t] {
		src := m.access(base+uintptr(r*stride), m.colsb[t], false)
		for w := range m.colsb[t] / 4 {
			m.tmm[t][r][w] = uint32(src[4*w]) | uint32(src[4*w+1])<<8 | uint32(src[4*w+2])<<16 | uint32(src[4*w+3])<<24
		}
	}
}

// tilestored stores rows[t] rows of colsb[t] bytes to base, base+stride, …
func (m *tileMachine) tilestored(t int, base uintptr, stride int) {
	m.tile(t)
	for r := range m.rows[t] {
		dst := m.access(base+uintptr(r*stride), m.colsb[t], true)
		for w := range m.colsb[t] / 4 {
			v := m.tmm[t][r][w]
			dst[4*w], dst[4*w+1], dst[4*w+2], dst[4*w+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		}
	}
}

func (m *tileMachine) tilezero(t int) {
	m.tile(t)
	m.tmm[t] = [amxTileRows][amxTileRowSize / 4]uint32{}
}

// tdpbf16ps is TDPBF16PS c, a, b: for each row i of c and column j,
// c[i][j] += a[i][2p]·b[p][2j] then += a[i][2p+1]·b[p][2j+1] for p in
// order, each a float32 FMA with denormal inputs read as zero (DAZ), tiny
// results flushed to zero (FTZ) and rounding to nearest even. Shapes must
// agree: rows(c) = rows(a), colsb(c) = colsb(b), colsb(a) = 4·rows(b),
// and the three tiles must differ (#UD otherwise).
func (m *tileMachine) tdpbf16ps(c, a, b int) {
	m.tile(c)
	m.tile(a)
	m.tile(b)
	if c == a || c == b || a == b {
		panic(fmt.Sprintf("amx: #UD: TDPBF16PS tmm%d, tmm%d, tmm%d repeats a tile", c, a, b))
	}
	if m.rows[c] != m.rows[a] || m.colsb[c] != m.colsb[b] || m.colsb[a] != 4*m.rows[b] {
		panic(fmt.Sprintf("amx: #UD: TDPBF16PS shapes c %d×%d, a %d×%d, b %d×%d", m.rows[c], m.colsb[c], m.rows[a], m.colsb[a], m.rows[b], m.colsb[b]))
	}
	for i := range m.rows[c] {
		row := &m.tmm[c][i]
		for p := range m.colsb[a] / 4 {
			ap := m.tmm[a][i][p]
			for j := range m.colsb[c] / 4 {
				bp := m.tmm[b][p][j]
				acc := math.Float32frombits(row[j])
				acc = fmaBF16(acc, ap&0xffff, bp&0xffff)
				acc = fmaBF16(acc, ap>>16, bp>>16)
				row[j] = math.Float32bits(acc)
			}
		}
		for j := m.colsb[c] / 4; j < len(row); j++ {
			row[j] = 0
		}
	}
	for i := m.rows[c]; i < amxTileRows; i++ {
		m.tmm[c][i] = [amxTileRowSize / 4]uint32{}
	}
}

func (m *tileMachine) tilerelease() {
	*m = tileMachine{regions: m.regions}
}

// fmaBF16 is one multiply-add of TDPBF16PS: acc + x·y for bfloat16 x and y
// (low 16 bits), with DAZ, FTZ and one rounding to nearest even. The
// product of two bfloat16 is exact in float64, and so is the float64 sum
// unless the exponents are far apart; then big.Float rounds the exact sum.
// Tininess is judged on the exact sum (before rounding), which differs
// from after-rounding detection only for sums within half an ulp below
// the smallest normal.
func fmaBF16(acc float32, x, y uint32) float32 {
	acc = dazF32(acc)
	p := float64(dazF32(fromBF16(x))) * float64(dazF32(fromBF16(y)))
	a := float64(acc)
	s := a + p
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return float32(s)
	}
	bb := s - a
	if e := (a - (s - bb)) + (p - bb); e != 0 {
		z := new(big.Float).SetPrec(24).SetMode(big.ToNearestEven)
		z.Add(new(big.Float).SetFloat64(a), new(big.Float).SetFloat64(p))
		if z.Sign() != 0 && z.MantExp(nil) <= -126 { // |z| < 2⁻¹²⁶
			return float32(math.Copysign(0, float64(z.Sign())))
		}
		f, _ := z.Float64()
		return float32(f)
	}
	if s != 0 && math.Abs(s) < 0x1p-126 {
		return float32(math.Copysign(0, s))
	}
	return float32(s)
}

// dazF32 reads a denormal as a zero of the same sign.
func dazF32(f float32) float32 {
	if b := math.Float32bits(f); b&0x7f800000 == 0 {
		return math.Float32frombits(b & 0x80000000)
	}
	return f
}

// amxReg is a general register of amxKernel32x32 that tile operands use.
type amxReg int

const (
	regAX  amxReg = iota // the tile configuration
	regDI                // C, row 0
	regR9                // C, row 16
	regDX                // C's row stride in bytes
	regSI                // the chunk of A
	regR10               // A's row stride (64)
	regR8                // the chunk of B
	regR11               // B's row stride (128)
	numAMXRegs
)

var amxRegNames = [numAMXRegs]string{"%rax", "%rdi", "%r9", "%rdx", "%rsi", "%r10", "%r8", "%r11"}

// tileOp is one AMX instruction of the kernel: op with tile t (for
// tdpbf16ps: c = t, a, b) and memory operand disp(base, index, 1).
type tileOp struct {
	op          string
	t, a, b     int
	base, index amxReg
	disp        int
}

// The kernel's AMX instructions, block by block as amx_amd64.s has them.
var (
	amxProgConfig = []tileOp{{op: "ldtilecfg", base: regAX}}
	amxProgLoadC  = []tileOp{
		{op: "tileloadd", t: 0, base: regDI, index: regDX},
		{op: "tileloadd", t: 1, base: regDI, index: regDX, disp: 64},
		{op: "tileloadd", t: 2, base: regR9, index: regDX},
		{op: "tileloadd", t: 3, base: regR9, index: regDX, disp: 64},
	}
	amxProgZeroC = []tileOp{{op: "tilezero", t: 0}, {op: "tilezero", t: 1}, {op: "tilezero", t: 2}, {op: "tilezero", t: 3}}
	amxProgChunk = []tileOp{
		{op: "tileloadd", t: 4, base: regSI, index: regR10},
		{op: "tileloadd", t: 5, base: regSI, index: regR10, disp: 1024},
		{op: "tileloadd", t: 6, base: regR8, index: regR11},
		{op: "tileloadd", t: 7, base: regR8, index: regR11, disp: 64},
		{op: "tdpbf16ps", t: 0, a: 4, b: 6},
		{op: "tdpbf16ps", t: 1, a: 4, b: 7},
		{op: "tdpbf16ps", t: 2, a: 5, b: 6},
		{op: "tdpbf16ps", t: 3, a: 5, b: 7},
	}
	amxProgStoreC = []tileOp{
		{op: "tilestored", t: 0, base: regDI, index: regDX},
		{op: "tilestored", t: 1, base: regDI, index: regDX, disp: 64},
		{op: "tilestored", t: 2, base: regR9, index: regDX},
		{op: "tilestored", t: 3, base: regR9, index: regDX, disp: 64},
	}
	amxProgRelease = []tileOp{{op: "tilerelease"}}
)

// amxKernelListing is the order the AMX instructions appear in
// amxKernel32x32's code: configure, load or zero C, the chunk loop, the
// tail chunk, store C, release.
func amxKernelListing() []tileOp {
	var ops []tileOp
	for _, blk := range [][]tileOp{amxProgConfig, amxProgLoadC, amxProgZeroC, amxProgChunk, amxProgChunk, amxProgStoreC, amxProgRelease} {
		ops = append(ops, blk...)
	}
	return ops
}

// String prints op as GNU objdump does.
func (op tileOp) String() string {
	mem := func() string {
		d := ""
		if op.disp != 0 {
			d = fmt.Sprintf("%#x", op.disp)
		}
		if op.op == "ldtilecfg" {
			return fmt.Sprintf("%s(%s)", d, amxRegNames[op.base])
		}
		return fmt.Sprintf("%s(%s,%s,1)", d, amxRegNames[op.base], amxRegNames[op.index])
	}
	switch op.op {
	case "ldtilecfg":
		return "ldtilecfg " + mem()
	case "tilerelease":
		return "tilerelease"
	case "tilezero":
		return fmt.Sprintf("tilezero %%tmm%d", op.t)
	case "tileloadd":
		return fmt.Sprintf("tileloadd %s,%%tmm%d", mem(), op.t)
	case "tilestored":
		return fmt.Sprintf("tilestored %%tmm%d,%s", op.t, mem())
	case "tdpbf16ps":
		return fmt.Sprintf("tdpbf16ps %%tmm%d,%%tmm%d,%%tmm%d", op.b, op.a, op.t)
	}
	return "?" + op.op
}

// exec runs ops with the general registers regs.
func (m *tileMachine) exec(ops []tileOp, regs *[numAMXRegs]uintptr) {
	for _, op := range ops {
		addr := regs[op.base] + uintptr(op.disp)
		switch op.op {
		case "ldtilecfg":
			m.ldtilecfg(m.access(addr, 64, false))
		case "tilerelease":
			m.tilerelease()
		case "tilezero":
			m.tilezero(op.t)
		case "tileloadd":
			m.tileloadd(op.t, addr, int(regs[op.index]))
		case "tilestored":
			m.tilestored(op.t, addr, int(regs[op.index]))
		case "tdpbf16ps":
			m.tdpbf16ps(op.t, op.a, op.b)
		default:
			panic("amx: unknown op " + op.op)
		}
	}
}

// emulatedAMXBody is amxBody as amxAsmBody does it, with the assembly
// kernel emulated.
func emulatedAMXBody(cfg *amxTileConfig, steps int, a, b []uint32, c []float32, ldc int, accumulate bool) {
	var ta, tb [amxChunkWords]uint32
	chunks := amxTail(&ta, &tb, a, b, steps)
	var aTail, bTail []uint32
	if chunks*amxChunkSteps != steps {
		aTail, bTail = ta[:], tb[:]
	}
	emulateAMXKernel(cfg, chunks, a[:chunks*amxChunkWords], b[:chunks*amxChunkWords], aTail, bTail, c, ldc, accumulate)
}

// emulateAMXKernel is amxKernel32x32 run on a tileMachine, with its
// register values and pointer steps; it may touch only the memory of its
// arguments (a and b exactly chunks·2048 bytes, the tails one chunk or
// empty, c 31·ldc+32 floats).
func emulateAMXKernel(cfg *amxTileConfig, chunks int, a, b, aTail, bTail []uint32, c []float32, ldc int, accumulate bool) {
	m := &tileMachine{}
	m.allow("cfg", unsafe.Pointer(cfg), len(cfg), false)
	m.allow("a", unsafe.Pointer(unsafe.SliceData(a)), 4*len(a), false)
	m.allow("b", unsafe.Pointer(unsafe.SliceData(b)), 4*len(b), false)
	m.allow("aTail", unsafe.Pointer(unsafe.SliceData(aTail)), 4*len(aTail), false)
	m.allow("bTail", unsafe.Pointer(unsafe.SliceData(bTail)), 4*len(bTail), false)
	m.allow("c", unsafe.Pointer(unsafe.SliceData(c)), 4*len(c), true)
	var regs [numAMXRegs]uintptr
	regs[regAX] = uintptr(unsafe.Pointer(cfg))
	regs[regDI] = uintptr(unsafe.Pointer(unsafe.SliceData(c)))
	regs[regDX] = uintptr(ldc) << 2
	regs[regR9] = regs[regDI] + regs[regDX]<<4
	m.exec(amxProgConfig, &regs)
	if accumulate {
		m.exec(amxProgLoadC, &regs)
	} else {
		m.exec(amxProgZeroC, &regs)
	}
	regs[regSI] = uintptr(unsafe.Pointer(unsafe.SliceData(a)))
	regs[regR8] = uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	regs[regR10], regs[regR11] = 64, 128
	for range chunks {
		m.exec(amxProgChunk, &regs)
		regs[regSI] += 2048
		regs[regR8] += 2048
	}
	if len(aTail) > 0 {
		regs[regSI] = uintptr(unsafe.Pointer(unsafe.SliceData(aTail)))
		regs[regR8] = uintptr(unsafe.Pointer(unsafe.SliceData(bTail)))
		m.exec(amxProgChunk, &regs)
	}
	m.exec(amxProgStoreC, &regs)
	m.exec(amxProgRelease, &regs)
	if m.configured {
		panic("amx: tile state left configured")
	}
}
