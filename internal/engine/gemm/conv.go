package gemm

import (
	"fmt"
	"math/bits"
	"runtime"
)

// Convolution as a product with pre-packed weights and im2col folded into
// the packing of A.
//
// A convolution out[b, co, oy, ox] = Σ W[co, ci, ky, kx]·x[b, ci, iy, ix]
// is computed transposed: every output pixel is a row of op(A) whose k
// entries (ci, ky, kx) are gathered from the NCHW input as A is packed, and
// Wᵀ (k×Cout, packed once at load with PackB(true, k, Cout, W, k) or
// PackBBF16) is the B operand. The result is pixel-major, [N·OutH·OutW ×
// Cout]; no im2col matrix is ever written, and each micro-panel of A is
// gathered straight from the input (a copy of up to mr contiguous floats
// per k entry for stride 1, zeros where the window leaves the padded image).

// ConvInput describes the im2col view of an NCHW input x [N, C, H, W] for a
// KH×KW window with the given stride and top/left padding (bottom/right
// padding is implied by OutH and OutW). Row r of the view is output pixel
// (b, oy, ox) with r = (b·OutH + oy)·OutW + ox; column p is input tap
// (ci, ky, kx) with p = (ci·KH + ky)·KW + kx, the order of a PyTorch
// weight's [Cout, Cin, KH, KW] rows.
type ConvInput struct {
	X               []float32
	N, C, H, W      int
	KH, KW, Stride  int
	PadTop, PadLeft int
	OutH, OutW      int
}

// Rows returns the number of output pixels, the m of the product.
func (in *ConvInput) Rows() int { return in.N * in.OutH * in.OutW }

// K returns C·KH·KW, the inner dimension of the product.
func (in *ConvInput) K() int { return in.C * in.KH * in.KW }

func (in *ConvInput) check() {
	if in.N < 0 || in.C < 0 || in.H < 0 || in.W < 0 || in.KH < 1 || in.KW < 1 || in.Stride < 1 || in.OutH < 0 || in.OutW < 0 {
		panic(fmt.Sprintf("gemm: bad convolution geometry %+v", *in))
	}
	if need := in.N * in.C * in.H * in.W; len(in.X) < need {
		panic(fmt.Sprintf("gemm: convolution input has %d elements, needs %d", len(in.X), need))
	}
}

// SgemmConvPacked computes C = im2col(in)·B (+C if accumulate): C is
// in.Rows()×pb.N() row-major with stride ldc, and pb.K() must equal in.K().
func SgemmConvPacked(in *ConvInput, pb *PackedB, c []float32, ldc int, accumulate bool) {
	multiplyConv(in, pb.panels, c, ldc, accumulate)
	runtime.KeepAlive(pb) // its panels may be off the heap (offheap_linux.go)
}

// SgemmConvPackedRows is SgemmConvPacked for output pixels [r0, r0+rows)
// only: C holds those rows (row i of C is pixel r0+i). Computing a large
// convolution in bands of rows keeps the pixel-major result small enough to
// stay in cache until the caller lays it out.
func SgemmConvPackedRows(in *ConvInput, r0, rows int, pb *PackedB, c []float32, ldc int, accumulate bool) {
	multiplyConvRows(in, r0, rows, pb.panels, c, ldc, accumulate)
	runtime.KeepAlive(pb) // its panels may be off the heap (offheap_linux.go)
}

// SgemmConvPackedRowsBF16 is SgemmConvPackedRows with bfloat16 weights.
func SgemmConvPackedRowsBF16(in *ConvInput, r0, rows int, pb *PackedBBF16, c []float32, ldc int, accumulate bool) {
	defer runtime.KeepAlive(pb) // its panels may be off the heap (offheap_linux.go)
	pp := pb.panels
	if pp.kern.widenTo == nil {
		multiplyConvRows(in, r0, rows, pp, c, ldc, accumulate)
		return
	}
	in.check()
	if in.K() != pp.k {
		panic(fmt.Sprintf("gemm: convolution has k=%d, packed weights k=%d", in.K(), pp.k))
	}
	checkRows(in, r0, rows)
	op := newConvOperand(in)
	op.row0 = r0
	widenAndMultiply(rows, operandA{conv: op}, pp, c, ldc, accumulate)
}

func checkRows(in *ConvInput, r0, rows int) {
	if r0 < 0 || rows < 0 || r0+rows > in.Rows() {
		panic(fmt.Sprintf("gemm: convolution rows [%d, %d) outside [0, %d)", r0, r0+rows, in.Rows()))
	}
}

// SgemmConvPackedBF16 is SgemmConvPacked with bfloat16 weights (see SgemmPackedBF16's accuracy note).
func SgemmConvPackedBF16(in *ConvInput, pb *PackedBBF16, c []float32, ldc int, accumulate bool) {
	defer runtime.KeepAlive(pb) // its panels may be off the heap (offheap_linux.go)
	pp := pb.panels
	if pp.kern.widenTo == nil {
		multiplyConv(in, pp, c, ldc, accumulate)
		return
	}
	in.check()
	if in.K() != pp.k {
		panic(fmt.Sprintf("gemm: convolution has k=%d, packed weights k=%d", in.K(), pp.k))
	}
	widenAndMultiply(in.Rows(), operandA{conv: newConvOperand(in)}, pp, c, ldc, accumulate)
}

func multiplyConv[E element](in *ConvInput, pp packedPanels[E], c []float32, ldc int, accumulate bool) {
	multiplyConvRows(in, 0, in.Rows(), pp, c, ldc, accumulate)
}

func multiplyConvRows[E element](in *ConvInput, r0, rows int, pp packedPanels[E], c []float32, ldc int, accumulate bool) {
	in.check()
	if in.K() != pp.k {
		panic(fmt.Sprintf("gemm: convolution has k=%d, packed weights k=%d", in.K(), pp.k))
	}
	checkRows(in, r0, rows)
	m, n, k := rows, pp.n, pp.k
	checkOperand("C", c, m, n, ldc)
	beta := float32(0)
	if accumulate {
		beta = 1
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	op := newConvOperand(in)
	op.row0 = r0
	multiplyPacked(pp.kern, m, n, k, 1, operandA{conv: op}, pp, beta, c, ldc)
}

// convTap is one column of the im2col view: the offset of its input plane
// and its position in the window.
type convTap struct {
	plane  int
	ky, kx int
}

// convOperand is op(A) for a convolution; k0 shifts its columns (shiftK).
type convOperand struct {
	in   *ConvInput
	taps []convTap
	k0   int
	row0 int // row 0 of the operand is output pixel row0
	// offs[p] is tap p's offset from the window's top-left input element
	// (plane + ky·W + kx), for the interior fast path; nil when the input
	// is too large for int32 offsets.
	offs []int32
}

func newConvOperand(in *ConvInput) *convOperand {
	taps := make([]convTap, in.K())
	hw := in.H * in.W
	for ci := range in.C {
		for ky := range in.KH {
			for kx := range in.KW {
				taps[(ci*in.KH+ky)*in.KW+kx] = convTap{plane: ci * hw, ky: ky, kx: kx}
			}
		}
	}
	o := &convOperand{in: in, taps: taps}
	if len(in.X) < 1<<31-64 {
		o.offs = make([]int32, len(taps))
		for p, t := range taps {
			o.offs[p] = int32(t.plane + t.ky*in.W + t.kx)
		}
	}
	return o
}

// convSegment is a run of consecutive output pixels within one output row.
type convSegment struct {
	r0, n    int // first row of the panel and length
	base     int // offset of the image in X
	iy0, ix0 int // input position of the window's top-left tap for the first pixel
}

// convCopy is one segment of a 12-row micro-panel for gatherSegs: for
// each tap p, the pixels selected by mask (the low n bits) come from
// X[src+offs[p]...] and go to rows dst... of the panel.
type convCopy struct {
	dst, src int
	mask     uint
}

// gatherInterior packs a stride-1 panel whose windows all lie inside the
// input (every segment's taps are in its image), as one masked copy per
// segment and tap, and reports whether it did. Panels that cross output
// rows or images, common where the output is narrow, take this path too;
// inputs padded beforehand (see tensor's Conv2D) only ever take it.
func (o *convOperand) gatherInterior(dst []float32, segs []convSegment, p0, kb int) bool {
	in := o.in
	var copies [12]convCopy
	if len(segs) > len(copies) {
		return false
	}
	for i, sg := range segs {
		if sg.iy0 < 0 || sg.iy0+in.KH > in.H || sg.ix0 < 0 || sg.ix0+sg.n-1+in.KW > in.W {
			return false
		}
		copies[i] = convCopy{dst: sg.r0, src: sg.base + sg.iy0*in.W + sg.ix0, mask: 1<<sg.n - 1}
	}
	offs := o.offs[o.k0+p0 : o.k0+p0+kb]
	// The largest offset is the last tap's (taps ascend); check that each
	// segment's last element of it is inside X.
	for _, c := range copies[:len(segs)] {
		last := c.src + int(offs[kb-1]) + bits.Len(c.mask) - 1
		if last >= len(in.X) {
			return false
		}
	}
	return gatherSegs(dst, in.X, offs, copies[:len(segs)])
}

// pack gathers rows [i0, i0+rows) × columns [p0, p0+kb) of the im2col view,
// scaled by alpha, into an mr-row micro-panel (element (i, p) at p*mr+i),
// zero-filling rows past rows.
func (o *convOperand) pack(dst []float32, i0, rows, p0, kb, mr int, alpha float32) {
	in := o.in
	dst = dst[:kb*mr]
	if rows < mr {
		clear(dst)
	}
	var segBuf [32]convSegment
	segs := segBuf[:0]
	ohw := in.OutH * in.OutW
	chw := in.C * in.H * in.W
	s := in.Stride
	for r := 0; r < rows; {
		i := o.row0 + i0 + r
		b, rem := i/ohw, i%ohw
		oy, ox := rem/in.OutW, rem%in.OutW
		n := min(rows-r, in.OutW-ox)
		if len(segs) == cap(segs) {
			panic("gemm: convolution micro-panel has too many segments")
		}
		segs = append(segs, convSegment{r0: r, n: n, base: b * chw, iy0: oy*s - in.PadTop, ix0: ox*s - in.PadLeft})
		r += n
	}
	x, h, w := in.X, in.H, in.W
	if sg := segs[0]; mr == 12 && rows == 12 && len(segs) == 1 && s == 1 && alpha == 1 && o.offs != nil &&
		sg.iy0 >= 0 && sg.iy0+in.KH <= h && sg.ix0 >= 0 && sg.ix0+11+in.KW <= w {
		// Every tap's 12 pixels are a contiguous run inside the image.
		base := sg.base + sg.iy0*w + sg.ix0
		offs := o.offs[o.k0+p0 : o.k0+p0+kb]
		_ = x[base+int(offs[kb-1])+11] // taps are in increasing offset order
		if gather12(dst, x[base:], offs) {
			return
		}
	}
	if mr == 12 && s == 1 && alpha == 1 && o.offs != nil && o.gatherInterior(dst, segs, p0, kb) {
		return
	}
	taps := o.taps[o.k0+p0 : o.k0+p0+kb]
	for p, t := range taps {
		d := dst[p*mr : p*mr+mr]
		for _, sg := range segs {
			dd := d[sg.r0 : sg.r0+sg.n]
			iy := sg.iy0 + t.ky
			if iy < 0 || iy >= h {
				clear(dd)
				continue
			}
			row := x[sg.base+t.plane+iy*w : sg.base+t.plane+iy*w+w]
			x0 := sg.ix0 + t.kx
			if s == 1 {
				lo, hi := max(0, -x0), min(sg.n, w-x0)
				if lo == 0 && hi == sg.n {
					copy(dd, row[x0:x0+sg.n])
					continue
				}
				if lo >= hi {
					clear(dd)
					continue
				}
				clear(dd[:lo])
				copy(dd[lo:hi], row[x0+lo:x0+hi])
				clear(dd[hi:])
				continue
			}
			for j := range dd {
				if xx := x0 + j*s; xx >= 0 && xx < w {
					dd[j] = row[xx]
				} else {
					dd[j] = 0
				}
			}
		}
	}
	if alpha != 1 {
		for i := range dst {
			dst[i] *= alpha
		}
	}
}
