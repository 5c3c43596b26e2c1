package inpaint

import (
	"context"
	"fmt"
	"math"
	"math/big"
)

// PatchMatch fills the masked pixels of an interleaved 8-bit RGB image as InvokeAI's infill_patchmatch does
// through pypatchmatch (PatchMatch, Barnes et al. 2009, in Xavier Philippeau's multi-scale
// expectation-maximisation form): an image pyramid; at each level, nearest-neighbour fields from the image to
// the current estimate and back, improved by propagation and random search over (2·patch+1)² patches
// compared on colour and gradients; then every pixel becomes the similarity-weighted vote of the patches that
// cover it. Its random choices come from the C library's rand() after srand(1212), as pypatchmatch's do, and
// its arithmetic follows pypatchmatch's (integer sums, the distance's extended-precision scaling, votes in
// double precision), so that it reproduces pypatchmatch's output. The result is a new slice; known pixels are
// kept only in so far as the votes reproduce them (InvokeAI pastes the known pixels back afterwards).
func PatchMatch(ctx context.Context, img []uint8, mask []uint8, w, h, patch int) ([]uint8, error) {
	if w < 1 || h < 1 || w > MaxSide || h > MaxSide || len(img) != w*h*3 || len(mask) != w*h {
		return nil, fmt.Errorf("inpaint: patchmatch: %d image and %d mask bytes for %dx%d", len(img), len(mask), w, h)
	}
	if patch < 1 || patch > 32 {
		return nil, fmt.Errorf("inpaint: patchmatch: patch size %d outside [1, 32]", patch)
	}
	initial := &maskedImage{w: w, h: h, pix: append([]uint8(nil), img...), mask: make([]uint8, w*h)}
	for i, v := range mask {
		if v != 0 {
			initial.mask[i] = 1
		}
	}
	pm := &patchMatch{ctx: ctx, patch: patch, rand: newGlibcRand(1212), pyramid: []*maskedImage{initial}}
	for src := initial; src.h > patch && src.w > patch; {
		src = src.downsample()
		pm.pyramid = append(pm.pyramid, src)
	}
	out, err := pm.run()
	if err != nil {
		return nil, err
	}
	return out.pix, nil
}

// distanceScale is pypatchmatch's kDistanceScale (a patch distance is an integer in [0, distanceScale]) and
// ssdScale the largest squared difference of one pixel's colour (kSSDScale).
const (
	distanceScale = 65535
	ssdScale      = 9 * 255 * 255
)

// similarity maps a patch distance to a vote weight: pypatchmatch's table, a linear interpolation of eleven
// values over the first tenth of the distance range and zero beyond.
var similarity = func() []float64 {
	base := [11]float64{1.0, 0.99, 0.96, 0.83, 0.38, 0.11, 0.02, 0.005, 0.0006, 0.0001, 0}
	n := distanceScale + 1
	out := make([]float64, n)
	for i := range out {
		t := float64(i) / float64(n)
		j := int(100 * t)
		k := j + 1
		vj, vk := 0.0, 0.0
		if j < 11 {
			vj = base[j]
		}
		if k < 11 {
			vk = base[k]
		}
		out[i] = vj + (100*t-float64(j))*(vk-vj)
	}
	return out
}()

// maskedImage is an RGB image with a mask (1 = unknown) and, once needed, its gradients.
type maskedImage struct {
	w, h         int
	pix          []uint8 // RGB
	mask         []uint8
	gradY, gradX []uint8 // pypatchmatch's 8-bit centred differences, 128 = flat; nil until computed
}

func newMaskedImage(w, h int) *maskedImage {
	return &maskedImage{w: w, h: h, pix: make([]uint8, w*h*3), mask: make([]uint8, w*h)}
}

func (m *maskedImage) clone() *maskedImage {
	return &maskedImage{w: m.w, h: m.h, pix: append([]uint8(nil), m.pix...), mask: append([]uint8(nil), m.mask...)}
}

func (m *maskedImage) masked(y, x int) bool { return m.mask[y*m.w+x] != 0 }

// gradients computes, once, (a[y+1]/2 − a[y−1]/2) + 128 vertically and the same horizontally for the
// interior bytes, as pypatchmatch does (its horizontal neighbours are the adjacent bytes three apart, and
// its loop skips the first and last three bytes of each row).
func (m *maskedImage) gradients() {
	if m.gradY != nil {
		return
	}
	m.gradY, m.gradX = make([]uint8, len(m.pix)), make([]uint8, len(m.pix))
	row := m.w * 3
	for i := 1; i < m.h-1; i++ {
		p := m.pix[i*row : (i+1)*row]
		down, up := m.pix[(i+1)*row:(i+2)*row], m.pix[(i-1)*row:i*row]
		gy, gx := m.gradY[i*row:(i+1)*row], m.gradX[i*row:(i+1)*row]
		for j := 3; j < row-3; j++ {
			gy[j] = uint8(int(down[j])/2 - int(up[j])/2 + 128)
			gx[j] = uint8(int(p[j+3])/2 - int(p[j-3])/2 + 128)
		}
	}
}

// containsMask reports whether an unknown pixel lies within patch of (y, x).
func (m *maskedImage) containsMask(y, x, patch int) bool {
	for dy := -patch; dy <= patch; dy++ {
		for dx := -patch; dx <= patch; dx++ {
			yy, xx := y+dy, x+dx
			if yy >= 0 && yy < m.h && xx >= 0 && xx < m.w && m.masked(yy, xx) {
				return true
			}
		}
	}
	return false
}

// downsample halves the image with a 6×6 binomial kernel (1 5 10 10 5 1 in each direction) over the known
// pixels; an output pixel none of whose inputs is known is unknown.
func (m *maskedImage) downsample() *maskedImage {
	kernel := [6]int{1, 5, 10, 10, 5, 1}
	out := newMaskedImage(m.w/2, m.h/2)
	for y := 0; y < m.h-1; y += 2 {
		for x := 0; x < m.w-1; x += 2 {
			var r, g, b, ksum int
			for dy := -2; dy <= 3; dy++ {
				for dx := -2; dx <= 3; dx++ {
					yy, xx := y+dy, x+dx
					if yy < 0 || yy >= m.h || xx < 0 || xx >= m.w || m.masked(yy, xx) {
						continue
					}
					k := kernel[2+dy] * kernel[2+dx]
					p := m.pix[(yy*m.w+xx)*3:]
					r, g, b = r+int(p[0])*k, g+int(p[1])*k, b+int(p[2])*k
					ksum += k
				}
			}
			o := (y/2)*out.w + x/2
			if ksum > 0 {
				out.pix[o*3], out.pix[o*3+1], out.pix[o*3+2] = uint8(r/ksum), uint8(g/ksum), uint8(b/ksum)
			} else {
				out.mask[o] = 1
			}
		}
	}
	return out
}

// upsample resizes to nw×nh by nearest neighbour (pixel y·h/nh, x·w/nw), unknown pixels staying unknown.
func (m *maskedImage) upsample(nw, nh int) *maskedImage {
	out := newMaskedImage(nw, nh)
	for y := 0; y < nh; y++ {
		for x := 0; x < nw; x++ {
			yy, xx := y*m.h/nh, x*m.w/nw
			if m.masked(yy, xx) {
				out.mask[y*nw+x] = 1
				continue
			}
			copy(out.pix[(y*nw+x)*3:(y*nw+x)*3+3], m.pix[(yy*m.w+xx)*3:])
		}
	}
	return out
}

// patchDistance is pypatchmatch's distance_masked_images: the mean, over the patch, of the colour and
// gradient squared differences scaled to [0, distanceScale], every pixel that is unknown (in either image)
// or on or beyond the image border counting as the largest difference.
func patchDistance(src *maskedImage, ys, xs int, dst *maskedImage, yt, xt, patch int) int {
	src.gradients()
	dst.gradients()
	var sum int64
	n := 2*patch + 1
	for dy := -patch; dy <= patch; dy++ {
		yys, yyt := ys+dy, yt+dy
		if yys <= 0 || yys >= src.h-1 || yyt <= 0 || yyt >= dst.h-1 {
			sum += int64(ssdScale * n)
			continue
		}
		rs, rt := yys*src.w, yyt*dst.w
		for dx := -patch; dx <= patch; dx++ {
			xxs, xxt := xs+dx, xt+dx
			// pypatchmatch checks both columns against the source's width.
			if xxs <= 0 || xxs >= src.w-1 || xxt <= 0 || xxt >= src.w-1 || src.mask[rs+xxs] != 0 || dst.mask[rt+xxt] != 0 {
				sum += ssdScale
				continue
			}
			ps, pt := (rs+xxs)*3, (rt+xxt)*3
			ssd := 0
			for c := 0; c < 3; c++ {
				d := int(src.pix[ps+c]) - int(dst.pix[pt+c])
				gx := int(src.gradX[ps+c]) - int(dst.gradX[pt+c])
				gy := int(src.gradY[ps+c]) - int(dst.gradY[pt+c])
				ssd += d*d + gx*gx + gy*gy
			}
			sum += int64(ssd)
		}
	}
	return scaleDistance(sum, int64(n*n))
}

// scaleDistance is int(distanceScale · (sum / ssdScale) / count) as pypatchmatch evaluates it in x87
// extended precision (64-bit significands, each step rounded to nearest), clamped to [0, distanceScale]. A
// double-precision estimate decides every case but those within rounding of an integer, which are redone
// with exact 64-bit-significand arithmetic.
func scaleDistance(sum, count int64) int {
	switch sum {
	case 0:
		return 0
	case ssdScale * count: // every pixel of the patch unknown or off the image: exact in any precision
		return distanceScale
	}
	est := distanceScale * (float64(sum) / ssdScale) / float64(count)
	res := int(est)
	if frac := est - math.Floor(est); frac < 1e-9 || frac > 1-1e-9 {
		const prec = 64
		d := new(big.Float).SetPrec(prec).SetInt64(sum)
		d.Quo(d, new(big.Float).SetPrec(prec).SetInt64(ssdScale))
		d.Mul(d, new(big.Float).SetPrec(prec).SetInt64(distanceScale))
		d.Quo(d, new(big.Float).SetPrec(prec).SetInt64(count))
		i, _ := d.Int64()
		res = int(i)
	}
	if res < 0 || res > distanceScale {
		return distanceScale
	}
	return res
}

// nnf is a nearest-neighbour field: for each pixel of src, the matching patch centre in dst and its distance.
type nnf struct {
	src, dst *maskedImage
	field    []int32 // y, x, distance per source pixel
}

func (f *nnf) at(y, x int) []int32 { return f.field[(y*f.src.w+x)*3 : (y*f.src.w+x)*3+3] }

type patchMatch struct {
	ctx     context.Context
	patch   int
	rand    *glibcRand
	pyramid []*maskedImage
	s2t     *nnf
	t2s     *nnf
}

func (pm *patchMatch) dist(f *nnf, y, x, yt, xt int) int {
	return patchDistance(f.src, y, x, f.dst, yt, xt, pm.patch)
}

// randomize gives every pixel whose distance is not yet below the maximum a random match, retrying up to 20
// times for one below it (the random coordinates use the source's size, as pypatchmatch's do).
func (pm *patchMatch) randomize(f *nnf, reset bool) {
	for i := 0; i < f.src.h; i++ {
		for j := 0; j < f.src.w; j++ {
			v := f.at(i, j)
			d := distanceScale
			if !reset {
				d = int(v[2])
			}
			if d < distanceScale {
				continue
			}
			yt, xt := 0, 0
			for t := 0; t < 20; t++ {
				yt = pm.rand.next() % f.src.h
				xt = pm.rand.next() % f.src.w
				d = pm.dist(f, i, j, yt, xt)
				if d < distanceScale {
					break
				}
			}
			v[0], v[1], v[2] = int32(yt), int32(xt), int32(d)
		}
	}
}

func (pm *patchMatch) newField(src, dst *maskedImage) *nnf {
	f := &nnf{src: src, dst: dst, field: make([]int32, src.w*src.h*3)}
	pm.randomize(f, true)
	return f
}

// upscaleField starts a field from the previous level's, scaling its coordinates.
func (pm *patchMatch) upscaleField(src, dst *maskedImage, prev *nnf) *nnf {
	f := &nnf{src: src, dst: dst, field: make([]int32, src.w*src.h*3)}
	fi := float64(src.h) / float64(prev.src.h)
	fj := float64(src.w) / float64(prev.src.w)
	for i := 0; i < src.h; i++ {
		for j := 0; j < src.w; j++ {
			il := int(math.Min(float64(i)/fi, float64(prev.src.h-1)))
			jl := int(math.Min(float64(j)/fj, float64(prev.src.w-1)))
			o := prev.at(il, jl)
			v := f.at(i, j)
			v[0], v[1] = int32(float64(o[0])*fi), int32(float64(o[1])*fj)
			v[2] = int32(pm.dist(f, i, j, int(v[0]), int(v[1])))
		}
	}
	pm.randomize(f, false)
	return f
}

func (pm *patchMatch) minimize(f *nnf, passes int) error {
	for ; passes > 0; passes-- {
		if err := pm.ctx.Err(); err != nil {
			return err
		}
		for i := 0; i < f.src.h; i++ {
			for j := 0; j < f.src.w; j++ {
				if f.at(i, j)[2] > 0 {
					pm.minimizeLink(f, i, j, 1)
				}
			}
		}
		for i := f.src.h - 1; i >= 0; i-- {
			for j := f.src.w - 1; j >= 0; j-- {
				if f.at(i, j)[2] > 0 {
					pm.minimizeLink(f, i, j, -1)
				}
			}
		}
	}
	return nil
}

// minimizeLink tries the matches propagated from the previous pixel in scan order (vertically, then
// horizontally) and random matches around the current one at halving distances.
func (pm *patchMatch) minimizeLink(f *nnf, y, x, dir int) {
	v := f.at(y, x)
	try := func(yp, xp int) {
		if d := pm.dist(f, y, x, yp, xp); d < int(v[2]) {
			v[0], v[1], v[2] = int32(yp), int32(xp), int32(d)
		}
	}
	if y-dir >= 0 && y-dir < f.src.h {
		p := f.at(y-dir, x)
		try(int(p[0])+dir, int(p[1]))
	}
	if x-dir >= 0 && x-dir < f.src.w {
		p := f.at(y, x-dir)
		try(int(p[0]), int(p[1])+dir)
	}
	for scale := (min(f.dst.h, f.dst.w) - 1) / 2; scale > 0; scale /= 2 {
		yp := int(v[0]) + (pm.rand.next()%(2*scale+1) - scale)
		xp := int(v[1]) + (pm.rand.next()%(2*scale+1) - scale)
		try(min(max(yp, 0), f.dst.h-1), min(max(xp, 0), f.dst.w-1))
	}
}

func (pm *patchMatch) run() (*maskedImage, error) {
	levels := len(pm.pyramid)
	var target *maskedImage
	for level := levels - 1; level >= 0; level-- {
		source := pm.pyramid[level]
		if level == levels-1 {
			target = source.clone()
			clear(target.mask)
			pm.s2t = pm.newField(source, target)
			pm.t2s = pm.newField(target, source)
		} else {
			pm.s2t = pm.upscaleField(source, target, pm.s2t)
			pm.t2s = pm.upscaleField(target, source, pm.t2s)
		}
		var err error
		if target, err = pm.expectationMaximization(source, target, level); err != nil {
			return nil, err
		}
	}
	return target, nil
}

// expectationMaximization refines the estimate of one level (1+2·level rounds) and returns the estimate for
// the next finer level (at the last round, built from that level's image), or the result at level 0.
func (pm *patchMatch) expectationMaximization(source, target *maskedImage, level int) (*maskedImage, error) {
	rounds := 1 + 2*level
	passes := min(7, 1+level)
	var newTarget *maskedImage
	for round := 0; round < rounds; round++ {
		if round != 0 {
			pm.s2t.dst = newTarget
			pm.t2s.src = newTarget
			target = newTarget
		}
		for i := 0; i < source.h; i++ {
			for j := 0; j < source.w; j++ {
				if !source.containsMask(i, j, pm.patch) {
					copy(pm.s2t.at(i, j), []int32{int32(i), int32(j), 0})
					copy(pm.t2s.at(i, j), []int32{int32(i), int32(j), 0})
				}
			}
		}
		if err := pm.minimize(pm.s2t, passes); err != nil {
			return nil, err
		}
		if err := pm.minimize(pm.t2s, passes); err != nil {
			return nil, err
		}
		upscaled := level >= 1 && round == rounds-1
		var newSource *maskedImage
		if upscaled {
			newSource = pm.pyramid[level-1]
			newTarget = target.upsample(newSource.w, newSource.h)
		} else {
			newSource = pm.pyramid[level]
			newTarget = target.clone()
		}
		vote := make([]float64, newTarget.w*newTarget.h*4)
		pm.expectation(pm.s2t, true, vote, newSource, newTarget.w, upscaled)
		pm.expectation(pm.t2s, false, vote, newSource, newTarget.w, upscaled)
		maximization(newTarget, vote)
	}
	return newTarget, nil
}

// expectation adds every matched patch's pixels, weighted by the match's similarity, to the votes.
func (pm *patchMatch) expectation(f *nnf, sourceToTarget bool, vote []float64, source *maskedImage, voteW int, upscaled bool) {
	p := pm.patch
	for i := 0; i < f.src.h; i++ {
		for j := 0; j < f.src.w; j++ {
			v := f.at(i, j)
			yp, xp := int(v[0]), int(v[1])
			wgt := similarity[v[2]]
			for di := -p; di <= p; di++ {
				for dj := -p; dj <= p; dj++ {
					ys, xs, yt, xt := i+di, j+dj, yp+di, xp+dj
					if ys < 0 || ys >= f.src.h || xs < 0 || xs >= f.src.w || yt < 0 || yt >= f.dst.h || xt < 0 || xt >= f.dst.w {
						continue
					}
					if !sourceToTarget {
						ys, yt = yt, ys
						xs, xt = xt, xs
					}
					if upscaled {
						for uy := 0; uy < 2; uy++ {
							for ux := 0; ux < 2; ux++ {
								weightedCopy(source, 2*ys+uy, 2*xs+ux, vote, voteW, 2*yt+uy, 2*xt+ux, wgt)
							}
						}
					} else {
						weightedCopy(source, ys, xs, vote, voteW, yt, xt, wgt)
					}
				}
			}
		}
	}
}

func weightedCopy(source *maskedImage, ys, xs int, vote []float64, voteW, yt, xt int, wgt float64) {
	if source.masked(ys, xs) {
		return
	}
	s := source.pix[(ys*source.w+xs)*3:]
	t := vote[(yt*voteW+xt)*4:]
	for c := 0; c < 3; c++ {
		t[c] += float64(float64(s[c]) * wgt) // rounded before the sum, as C++ does
	}
	t[3] += wgt
}

// maximization sets every voted pixel to its votes' weighted mean (rounded half to even, as OpenCV's
// saturate_cast does); a pixel without votes keeps its value and is marked known.
func maximization(target *maskedImage, vote []float64) {
	for i := 0; i < target.w*target.h; i++ {
		v := vote[i*4 : i*4+4]
		if v[3] > 0 {
			for c := 0; c < 3; c++ {
				target.pix[i*3+c] = saturateRound64(v[c] / v[3])
			}
		} else {
			target.mask[i] = 0
		}
	}
	target.gradY, target.gradX = nil, nil
}

func saturateRound64(v float64) uint8 {
	r := math.RoundToEven(v)
	if r != r || r < 0 {
		return 0
	}
	if r > 255 {
		return 255
	}
	return uint8(r)
}
