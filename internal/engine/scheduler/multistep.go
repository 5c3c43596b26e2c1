package scheduler

import (
	"fmt"
	"math"

	"github.com/invokego/invokego/internal/engine/noise"
)

// This file holds the multistep exponential-integrator solvers
// (DPM-Solver++ and UniPC). Both keep past data predictions (x0) and work
// in lambda = log(alpha/sigma); both treat the UNet input as unscaled.

// multistepSchedule is set_timesteps of DPMSolverMultistepScheduler and
// UniPCMultistepScheduler: integer timesteps spaced over n+1 points (the
// last dropped), or Karras sigmas mapped back to rounded timesteps.
func (b *base) multistepSchedule(n int) ([]float64, []float32) {
	N := b.cfg.NumTrainTimesteps
	last := N
	if b.cfg.Class == ClassDPMMultistep && !math.IsInf(b.cfg.LambdaMinClipped, -1) {
		// clipped_idx = searchsorted(flip(lambda_t), lambda_min_clipped)
		clipped := 0
		for i := N - 1; i >= 0; i-- {
			a := b.train.alphasCumprod[i]
			l := log32(sqrt32(a)) - log32(sqrt32(1-a))
			if float64(l) < b.cfg.LambdaMinClipped {
				clipped++
			} else {
				break
			}
		}
		last = N - clipped
	}
	ts := make([]float64, n)
	switch b.cfg.TimestepSpacing {
	case "linspace":
		lin := npLinspace(0, float64(last-1), n+1)
		for i := range ts {
			ts[i] = npRound(lin[n-i])
		}
	case "leading":
		ratio := last / (n + 1)
		for i := range ts {
			ts[i] = float64((n-i)*ratio + b.cfg.StepsOffset)
		}
	case "trailing":
		ratio := float64(N) / float64(n)
		for i := range ts {
			ts[i] = npRound(float64(last)-float64(float64(i)*ratio)) - 1
		}
	}
	table := b.train.sigmas()
	var sigmas []float32
	if b.cfg.UseKarrasSigmas {
		sigMin, sigMax := float64(table[0]), float64(table[len(table)-1])
		if b.cfg.Class == ClassUniPC {
			if b.cfg.SigmaMin != nil {
				sigMin = *b.cfg.SigmaMin
			}
			if b.cfg.SigmaMax != nil {
				sigMax = *b.cfg.SigmaMax
			}
		}
		sig := karrasSigmas(sigMin, sigMax, n)
		logTable := logSigmaTable(table)
		for i, s := range sig {
			ts[i] = npRound(sigmaToT(s, logTable))
		}
		sigmas = make([]float32, n+1)
		for i, s := range sig {
			sigmas[i] = float32(s)
		}
		if b.cfg.FinalSigmasType == "sigma_min" {
			sigmas[n] = float32(sig[n-1])
		}
	} else {
		sigmas = make([]float32, n+1)
		for i, t := range ts {
			sigmas[i] = float32(npInterp(t, table))
		}
		if b.cfg.FinalSigmasType == "sigma_min" {
			a := b.train.alphasCumprod[0]
			sigmas[n] = sqrt32((1 - a) / a)
		}
	}
	return ts, sigmas
}

// alphaSigma is _sigma_to_alpha_sigma_t: alpha = 1/sqrt(sigma²+1),
// sigma_t = sigma*alpha (variance-preserving coefficients).
func alphaSigma(sigma float32) (alpha, sigmaT float32) {
	alpha = 1 / sqrt32(float32(sigma*sigma)+1)
	return alpha, sigma * alpha
}

// lambdaOf is log(alpha) - log(sigma_t); +Inf at sigma 0.
func lambdaOf(sigma float32) float32 {
	a, s := alphaSigma(sigma)
	return log32(a) - log32(s)
}

// dataPrediction is convert_model_output for the x0-predicting solvers.
func dataPrediction(predType string, modelOutput, sample []float32, sigma float32) []float32 {
	alpha, sigmaT := alphaSigma(sigma)
	x0 := make([]float32, len(sample))
	for i := range x0 {
		switch predType {
		case "epsilon":
			x0[i] = (sample[i] - float32(sigmaT*modelOutput[i])) / alpha
		case "v_prediction":
			x0[i] = float32(alpha*sample[i]) - float32(sigmaT*modelOutput[i])
		default:
			x0[i] = modelOutput[i]
		}
	}
	return x0
}

// addNoiseVP is the add_noise of DPM-Solver and UniPC:
// alpha_t*original + sigma_t*noise at the schedule's sigma for t.
func (b *base) addNoiseVP(original, noise []float32, t float64) ([]float32, error) {
	if len(original) != len(noise) {
		return nil, fmt.Errorf("scheduler: AddNoise: %d values vs %d noise values", len(original), len(noise))
	}
	if b.sigmas == nil {
		return nil, fmt.Errorf("scheduler: AddNoise before SetTimesteps")
	}
	i, err := b.indexForTimestep(t)
	if err != nil {
		return nil, err
	}
	alpha, sigmaT := alphaSigma(b.sigmas[i])
	out := make([]float32, len(original))
	for k := range out {
		out[k] = float32(alpha*original[k]) + float32(sigmaT*noise[k])
	}
	return out, nil
}

// ---- DPM-Solver++ (DPMSolverMultistepScheduler) ----

type dpmMultistep struct {
	base
	modelOutputs   [][]float32 // last solver_order data predictions, oldest first
	lowerOrderNums int
}

func (s *dpmMultistep) SetTimesteps(n int) error {
	if err := s.reset(n); err != nil {
		return err
	}
	if s.cfg.SolverOrder == 3 && s.cfg.AlgorithmType == "sde-dpmsolver++" {
		return fmt.Errorf("scheduler: third-order SDE DPM-Solver++ is not supported")
	}
	s.timesteps, s.sigmas = s.multistepSchedule(n)
	s.modelOutputs = make([][]float32, s.cfg.SolverOrder)
	s.lowerOrderNums = 0
	return nil
}

func (s *dpmMultistep) AddNoise(original, noise []float32, t float64) ([]float32, error) {
	return s.addNoiseVP(original, noise, t)
}

func (s *dpmMultistep) Step(modelOutput []float32, i int, sample []float32, gen *noise.Generator) ([]float32, error) {
	sde := s.cfg.AlgorithmType == "sde-dpmsolver++"
	if sde && gen == nil {
		return nil, ErrNeedGenerator
	}
	if err := s.beginStep(modelOutput, i, sample); err != nil {
		return nil, err
	}
	n := len(s.timesteps)
	lowerOrderFinal := i == n-1 && (s.cfg.EulerAtFinal || (s.cfg.LowerOrderFinal && n < 15) || s.cfg.FinalSigmasType == "zero")
	lowerOrderSecond := i == n-2 && s.cfg.LowerOrderFinal && n < 15

	x0 := dataPrediction(s.cfg.PredictionType, modelOutput, sample, s.sigmas[i])
	copy(s.modelOutputs, s.modelOutputs[1:])
	s.modelOutputs[len(s.modelOutputs)-1] = x0

	var z []float32
	if sde {
		var err error
		if z, err = drawNoise(gen, len(sample)); err != nil {
			return nil, err
		}
	}
	var out []float32
	switch {
	case s.cfg.SolverOrder == 1 || s.lowerOrderNums < 1 || lowerOrderFinal:
		out = s.firstOrder(i, x0, sample, z)
	case s.cfg.SolverOrder == 2 || s.lowerOrderNums < 2 || lowerOrderSecond:
		out = s.secondOrder(i, sample, z)
	default:
		out = s.thirdOrder(i, sample)
	}
	if s.lowerOrderNums < s.cfg.SolverOrder {
		s.lowerOrderNums++
	}
	return out, nil
}

func (s *dpmMultistep) firstOrder(i int, m0, sample, z []float32) []float32 {
	alphaT, sigmaT := alphaSigma(s.sigmas[i+1])
	_, sigmaS := alphaSigma(s.sigmas[i])
	h := lambdaOf(s.sigmas[i+1]) - lambdaOf(s.sigmas[i])
	out := make([]float32, len(sample))
	if z == nil {
		cs := sigmaT / sigmaS
		cm := alphaT * (exp32(-h) - 1)
		for k := range out {
			out[k] = float32(cs*sample[k]) - float32(cm*m0[k])
		}
		return out
	}
	cs := float32(sigmaT/sigmaS) * exp32(-h)
	cm := alphaT * (1 - exp32(-2*h))
	cz := sigmaT * sqrt32(1-exp32(-2*h))
	for k := range out {
		out[k] = float32(cs*sample[k]) + float32(cm*m0[k]) + float32(cz*z[k])
	}
	return out
}

func (s *dpmMultistep) secondOrder(i int, sample, z []float32) []float32 {
	sT, s0, s1 := s.sigmas[i+1], s.sigmas[i], s.sigmas[i-1]
	alphaT, sigmaT := alphaSigma(sT)
	_, sigmaS0 := alphaSigma(s0)
	lT, l0, l1 := lambdaOf(sT), lambdaOf(s0), lambdaOf(s1)
	m0, m1 := s.modelOutputs[len(s.modelOutputs)-1], s.modelOutputs[len(s.modelOutputs)-2]
	h, h0 := lT-l0, l0-l1
	r0 := h0 / h
	invR0 := 1 / r0
	out := make([]float32, len(sample))
	expH := exp32(-h)
	for k := range out {
		d0 := m0[k]
		d1 := float32(invR0 * (m0[k] - m1[k]))
		if z == nil {
			cm := alphaT * (expH - 1)
			if s.cfg.SolverType == "midpoint" {
				out[k] = float32(float32(sigmaT/sigmaS0)*sample[k]) - float32(cm*d0) - float32(float32(0.5*cm)*d1)
			} else { // heun
				c1 := alphaT * ((expH-1)/h + 1)
				out[k] = float32(float32(sigmaT/sigmaS0)*sample[k]) - float32(cm*d0) + float32(c1*d1)
			}
			continue
		}
		exp2H := exp32(-2 * h)
		cs := float32(sigmaT/sigmaS0) * expH
		cm := alphaT * (1 - exp2H)
		cz := sigmaT * sqrt32(1-exp2H)
		var c1 float32
		if s.cfg.SolverType == "midpoint" {
			c1 = 0.5 * cm
		} else {
			c1 = alphaT * ((1-exp2H)/(-2*h) + 1)
		}
		out[k] = float32(cs*sample[k]) + float32(cm*d0) + float32(c1*d1) + float32(cz*z[k])
	}
	return out
}

func (s *dpmMultistep) thirdOrder(i int, sample []float32) []float32 {
	sT, s0, s1, s2 := s.sigmas[i+1], s.sigmas[i], s.sigmas[i-1], s.sigmas[i-2]
	alphaT, sigmaT := alphaSigma(sT)
	_, sigmaS0 := alphaSigma(s0)
	lT, l0, l1, l2 := lambdaOf(sT), lambdaOf(s0), lambdaOf(s1), lambdaOf(s2)
	mo := s.modelOutputs
	m0, m1, m2 := mo[len(mo)-1], mo[len(mo)-2], mo[len(mo)-3]
	h, h0, h1 := lT-l0, l0-l1, l1-l2
	r0, r1 := h0/h, h1/h
	expH := exp32(-h)
	cs := sigmaT / sigmaS0
	c0 := alphaT * (expH - 1)
	c1 := alphaT * ((expH-1)/h + 1)
	c2 := alphaT * ((expH-1+h)/float32(h*h) - 0.5)
	out := make([]float32, len(sample))
	for k := range out {
		d10 := float32((1 / r0) * (m0[k] - m1[k]))
		d11 := float32((1 / r1) * (m1[k] - m2[k]))
		d1 := d10 + float32((r0/(r0+r1))*(d10-d11))
		d2 := float32((1 / (r0 + r1)) * (d10 - d11))
		out[k] = float32(cs*sample[k]) - float32(c0*m0[k]) + float32(c1*d1) - float32(c2*d2)
	}
	return out
}

// ---- UniPC (UniPCMultistepScheduler, predict_x0, bh1/bh2) ----

// unipc pairs a predictor (UniP) with a corrector (UniC) that refines the
// previous step's result using the model output at the new point, at no
// extra model calls.
type unipc struct {
	base
	modelOutputs   [][]float32
	lowerOrderNums int
	lastSample     []float32
	thisOrder      int
}

func (s *unipc) SetTimesteps(n int) error {
	if err := s.reset(n); err != nil {
		return err
	}
	s.timesteps, s.sigmas = s.multistepSchedule(n)
	s.modelOutputs = make([][]float32, s.cfg.SolverOrder)
	s.lowerOrderNums, s.lastSample, s.thisOrder = 0, nil, 0
	return nil
}

func (s *unipc) AddNoise(original, noise []float32, t float64) ([]float32, error) {
	return s.addNoiseVP(original, noise, t)
}

func (s *unipc) Step(modelOutput []float32, i int, sample []float32, _ *noise.Generator) ([]float32, error) {
	if err := s.beginStep(modelOutput, i, sample); err != nil {
		return nil, err
	}
	useCorrector := i > 0 && s.lastSample != nil && !containsInt(s.cfg.DisableCorrector, i-1)
	x0 := dataPrediction(s.cfg.PredictionType, modelOutput, sample, s.sigmas[i])
	if useCorrector {
		sample = s.correct(i, x0)
	}
	copy(s.modelOutputs, s.modelOutputs[1:])
	s.modelOutputs[len(s.modelOutputs)-1] = x0

	order := s.cfg.SolverOrder
	if s.cfg.LowerOrderFinal {
		order = min(order, len(s.timesteps)-i)
	}
	s.thisOrder = min(order, s.lowerOrderNums+1)
	s.lastSample = sample
	out := s.predict(i, sample, s.thisOrder)
	if s.lowerOrderNums < s.cfg.SolverOrder {
		s.lowerOrderNums++
	}
	return out, nil
}

// bhCoefficients computes h_phi_1, B_h, the R matrix rows and b vector of
// the UniPC B(h) formulation for the given order and ratios rks (the last
// of which is 1).
func (s *unipc) bhCoefficients(h float32, rks []float32, order int) (hPhi1, bh float32, R [][]float64, bv []float64) {
	hh := -h // predict_x0
	hPhi1 = expm132(hh)
	hPhiK := hPhi1/hh - 1
	factorial := 1
	if s.cfg.SolverType == "bh1" {
		bh = hh
	} else {
		bh = expm132(hh)
	}
	for k := 1; k <= order; k++ {
		row := make([]float64, len(rks))
		for j, r := range rks {
			row[j] = math.Pow(float64(r), float64(k-1))
		}
		R = append(R, row)
		bv = append(bv, float64(float32(hPhiK*float32(factorial))/bh))
		factorial *= k + 1
		hPhiK = hPhiK/hh - 1/float32(factorial)
	}
	return hPhi1, bh, R, bv
}

// predict is multistep_uni_p_bh_update.
func (s *unipc) predict(i int, x []float32, order int) []float32 {
	mo := s.modelOutputs
	m0 := mo[len(mo)-1]
	alphaT, sigmaT := alphaSigma(s.sigmas[i+1])
	_, sigmaS0 := alphaSigma(s.sigmas[i])
	l0 := lambdaOf(s.sigmas[i])
	h := lambdaOf(s.sigmas[i+1]) - l0

	var rks []float32
	var d1s [][]float32
	for k := 1; k < order; k++ {
		mk := mo[len(mo)-1-k]
		rk := (lambdaOf(s.sigmas[i-k]) - l0) / h
		rks = append(rks, rk)
		d := make([]float32, len(x))
		for j := range d {
			d[j] = (mk[j] - m0[j]) / rk
		}
		d1s = append(d1s, d)
	}
	rks = append(rks, 1)
	hPhi1, bh, R, bv := s.bhCoefficients(h, rks, order)

	var rhos []float32
	if len(d1s) > 0 {
		if order == 2 {
			rhos = []float32{0.5}
		} else {
			rhos = solveF32(trim(R, order-1), bv[:order-1])
		}
	}
	cs := sigmaT / sigmaS0
	cm := alphaT * hPhi1
	cb := alphaT * bh
	out := make([]float32, len(x))
	for j := range out {
		xt := float32(cs*x[j]) - float32(cm*m0[j])
		if len(d1s) > 0 {
			var res float32
			for k, d := range d1s {
				res += float32(rhos[k] * d[j])
			}
			xt -= float32(cb * res)
		}
		out[j] = xt
	}
	return out
}

// correct is multistep_uni_c_bh_update: it redoes the previous step from
// lastSample, now also using modelT, the data prediction at the point the
// predictor reached.
func (s *unipc) correct(i int, modelT []float32) []float32 {
	mo := s.modelOutputs
	m0 := mo[len(mo)-1]
	x := s.lastSample
	order := s.thisOrder
	alphaT, sigmaT := alphaSigma(s.sigmas[i])
	_, sigmaS0 := alphaSigma(s.sigmas[i-1])
	l0 := lambdaOf(s.sigmas[i-1])
	h := lambdaOf(s.sigmas[i]) - l0

	var rks []float32
	var d1s [][]float32
	for k := 1; k < order; k++ {
		mk := mo[len(mo)-1-k]
		rk := (lambdaOf(s.sigmas[i-1-k]) - l0) / h
		rks = append(rks, rk)
		d := make([]float32, len(x))
		for j := range d {
			d[j] = (mk[j] - m0[j]) / rk
		}
		d1s = append(d1s, d)
	}
	rks = append(rks, 1)
	hPhi1, bh, R, bv := s.bhCoefficients(h, rks, order)
	var rhos []float32
	if order == 1 {
		rhos = []float32{0.5}
	} else {
		rhos = solveF32(R, bv)
	}
	cs := sigmaT / sigmaS0
	cm := alphaT * hPhi1
	cb := alphaT * bh
	last := rhos[len(rhos)-1]
	out := make([]float32, len(x))
	for j := range out {
		xt := float32(cs*x[j]) - float32(cm*m0[j])
		var corr float32
		for k, d := range d1s {
			corr += float32(rhos[k] * d[j])
		}
		d1t := modelT[j] - m0[j]
		out[j] = xt - float32(cb*(corr+float32(last*d1t)))
	}
	return out
}

func trim(R [][]float64, n int) [][]float64 {
	out := make([][]float64, n)
	for i := range out {
		out[i] = R[i][:n]
	}
	return out
}

// solveF32 solves the small dense system A x = b in float32 the way
// torch.linalg.solve does on a CPU: torch factors A^T (a free view of the
// row-major A) with LAPACK's sgetrf, LU with partial pivoting, and then
// solves the transposed system with sgetrs: U^T y = b, L^T w = y, undo the
// row interchanges. The order matters at the last bit, and UniPC's result
// depends on it.
func solveF32(A [][]float64, b []float64) []float32 {
	n := len(b)
	// lu starts as A^T.
	lu := make([][]float32, n)
	for i := range lu {
		lu[i] = make([]float32, n)
		for j := range lu[i] {
			lu[i][j] = float32(A[j][i])
		}
	}
	pivots := make([]int, n)
	for c := 0; c < n; c++ {
		p := c
		for r := c + 1; r < n; r++ {
			if abs32(lu[r][c]) > abs32(lu[p][c]) {
				p = r
			}
		}
		pivots[c] = p
		lu[c], lu[p] = lu[p], lu[c]
		inv := 1 / lu[c][c]
		for r := c + 1; r < n; r++ {
			lu[r][c] *= inv
			for k := c + 1; k < n; k++ {
				lu[r][k] -= float32(lu[r][c] * lu[c][k])
			}
		}
	}
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(b[i])
	}
	for i := 0; i < n; i++ { // U^T y = b
		for k := 0; k < i; k++ {
			x[i] -= float32(lu[k][i] * x[k])
		}
		x[i] /= lu[i][i]
	}
	for i := n - 1; i >= 0; i-- { // L^T w = y (unit diagonal)
		for k := i + 1; k < n; k++ {
			x[i] -= float32(lu[k][i] * x[k])
		}
	}
	for i := n - 1; i >= 0; i-- { // x = P^T w
		x[i], x[pivots[i]] = x[pivots[i]], x[i]
	}
	return x
}

func abs32(x float32) float32 { return float32(math.Abs(float64(x))) }

func containsInt(xs []int, v int) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}
