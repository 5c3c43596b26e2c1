package gemm

import "fmt"

// Portable packing of fp32 operands into micro-panels; a kernel's transpose
// function (assembly on amd64) takes over the strided, full-panel cases.

// packPanelB copies the kb×cols sub-matrix of op(B) at (p0, j0) into dst
// (row by row, nr wide), zero-filling columns cols..nr-1.
func packPanelB(dst []float32, src operandB, p0, kb, j0, cols, nr int, transpose transposeFunc) {
	if !src.trans {
		for p := range kb {
			row := src.data[(p0+p)*src.ld+j0:]
			d := dst[p*nr : p*nr+nr]
			copy(d, row[:cols])
			clear(d[cols:])
		}
		return
	}
	// B is stored n×k: column j of op(B) is a contiguous row of B, so a
	// panel is a transpose of cols rows of B.
	done := 0
	if cols == nr && transpose != nil {
		done = transpose(dst, src.data[j0*src.ld+p0:], src.ld, nr, kb, 1)
		if done == kb {
			return
		}
	}
	if cols < nr {
		clear(dst[:kb*nr])
	}
	for j := range cols {
		col := src.data[(j0+j)*src.ld+p0:]
		col = col[done:kb]
		for p, v := range col {
			dst[(done+p)*nr+j] = v
		}
	}
}

// packPanelA copies rows [i0, i0+rows) × columns [p0, p0+kb) of op(A), scaled
// by alpha, into dst as an mr-row micro-panel stored column by column
// (element (i, p) at p*mr+i), zero-filling rows rows..mr-1.
func packPanelA(dst []float32, src operandA, i0, rows, p0, kb, mr int, alpha float32, transpose transposeFunc) {
	if src.conv != nil {
		src.conv.pack(dst, i0, rows, p0, kb, mr, alpha)
		return
	}
	dst = dst[:kb*mr]
	if rows < mr {
		clear(dst)
	}
	if src.trans {
		for p := range kb {
			col := src.data[(p0+p)*src.ld+i0:]
			col = col[:rows]
			d := dst[p*mr : p*mr+rows]
			if alpha == 1 {
				copy(d, col)
				continue
			}
			for i, v := range col {
				d[i] = alpha * v
			}
		}
		return
	}
	done := 0
	if rows == mr && transpose != nil {
		done = transpose(dst, src.data[i0*src.ld+p0:], src.ld, mr, kb, alpha)
	}
	for i := range rows {
		row := src.data[(i0+i)*src.ld+p0:]
		row = row[done:kb]
		d := dst[done*mr:]
		if alpha == 1 {
			for p, v := range row {
				d[p*mr+i] = v
			}
			continue
		}
		for p, v := range row {
			d[p*mr+i] = alpha * v
		}
	}
}

// Transpose writes dst[j*stride+i] = src[i*ld+j] for i < rows and j < cols:
// a layout change outside a product (a convolution's pixel-major result
// into channel planes), done with the packing transposer where the CPU has
// one (the word transposer: every value stays bit for bit as it was; a
// multiplication by 1 would quieten a signalling NaN).
func Transpose(dst []float32, stride int, src []float32, ld, rows, cols int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	if stride < rows || ld < cols {
		panic(fmt.Sprintf("gemm: transpose of %d×%d with strides %d, %d", rows, cols, ld, stride))
	}
	_, _ = dst[(cols-1)*stride+rows-1], src[(rows-1)*ld+cols-1]
	done := transposeArch(dst, stride, src, ld, rows, cols)
	wide := cols &^ 7
	if done == 0 {
		wide = 0
	}
	for i := range rows {
		row := src[i*ld : i*ld+cols]
		from := 0
		if i < done {
			from = wide
		}
		for j := from; j < cols; j++ {
			dst[j*stride+i] = row[j]
		}
	}
}
