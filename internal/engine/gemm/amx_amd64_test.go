//go:build amd64

package gemm

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// functionCode returns the machine code of the function starting at entry:
// up to where the runtime's function table says the next one begins (the
// linker pads between functions with INT3, 0xcc). It needs no symbol
// table, which go test strips.
func functionCode(t *testing.T, entry unsafe.Pointer) []byte {
	t.Helper()
	f := runtime.FuncForPC(uintptr(entry))
	if f == nil || f.Entry() != uintptr(entry) {
		t.Fatalf("no function starts at %p", entry)
	}
	n := 1
	for ; n < 1<<16; n++ {
		if g := runtime.FuncForPC(uintptr(entry) + uintptr(n)); g == nil || g.Entry() != f.Entry() {
			break
		}
	}
	return unsafe.Slice((*byte)(entry), n)
}

// TestAMXEncodings compares the bytes the amx_amd64.h macros assemble to
// (amxEncodingTable holds one of each form used) with GNU as's encoding of
// the same instructions (testdata/amx_encodings.golden, made by
// testdata/amx_encodings.sh), one instruction at a time.
func TestAMXEncodings(t *testing.T) {
	golden, err := os.ReadFile("testdata/amx_encodings.golden")
	if err != nil {
		t.Fatal(err)
	}
	table, _, _ := amxCodeAddrs()
	code := functionCode(t, table)
	off := 0
	for line := range strings.Lines(string(golden)) {
		hexBytes, asm, _ := strings.Cut(strings.TrimRight(line, "\n"), "\t")
		want, err := hex.DecodeString(hexBytes)
		if err != nil {
			t.Fatalf("golden line %q: %v", line, err)
		}
		if off+len(want) > len(code) {
			t.Fatalf("%s: the table ends at byte %d", asm, len(code))
		}
		if got := code[off : off+len(want)]; !bytes.Equal(got, want) {
			t.Errorf("%s: assembled % x, GNU as % x", asm, got, want)
		}
		off += len(want)
	}
	// The Go linker pads functions with INT3 (0xcc) up to their alignment.
	for _, b := range code[off:] {
		if b != 0xcc {
			t.Fatalf("the table has %d bytes after the golden's %d: % x", len(code)-off, off, code[off:])
		}
	}
}

// amxMnemonic matches the AMX instructions in objdump's listing.
var amxMnemonic = regexp.MustCompile(`^\s*[0-9a-f]+:\s+((?:ldtilecfg|sttilecfg|tilerelease|tilezero|tileloadd|tilestored|tdpbf16ps)\b.*?)\s*$`)

// objdumpAMX disassembles the function at entry with GNU objdump (its
// bytes written to a file as a raw x86-64 image) and returns its AMX
// instructions in order; it skips where objdump is missing or does not
// know AMX.
func objdumpAMX(t *testing.T, entry unsafe.Pointer) []string {
	t.Helper()
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		t.Skip("GNU objdump (binutils) is not installed")
	}
	raw := filepath.Join(t.TempDir(), "code.bin")
	if err := os.WriteFile(raw, functionCode(t, entry), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(objdump, "-D", "-b", "binary", "-m", "i386:x86-64", "--no-show-raw-insn", raw).Output()
	if err != nil {
		t.Skipf("objdump: %v", err)
	}
	var ops []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "(bad)") && !strings.Contains(sc.Text(), "int3") {
			t.Fatalf("objdump cannot decode %q (an AMX instruction it does not know, binutils < 2.36, or a bad encoding)", sc.Text())
		}
		if m := amxMnemonic.FindStringSubmatch(sc.Text()); m != nil {
			ops = append(ops, strings.Join(strings.Fields(m[1]), " "))
		}
	}
	return ops
}

// TestAMXKernelListing reads amxKernel32x32's code back with GNU objdump
// and checks that its AMX instructions are, in order and with their
// operands, the program the emulation runs (amxKernelListing), so the
// emulated tests cover what the assembly does with the tiles; likewise
// for the peak loop.
func TestAMXKernelListing(t *testing.T) {
	var want []string
	for _, op := range amxKernelListing() {
		want = append(want, op.String())
	}
	_, kernel, peak := amxCodeAddrs()
	if got := objdumpAMX(t, kernel); !slices.Equal(got, want) {
		t.Errorf("amxKernel32x32's AMX instructions:\n%s\nwant (the emulated program):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	want = []string{"ldtilecfg (%rax)"}
	for i := range 8 {
		want = append(want, tileOp{op: "tilezero", t: i}.String())
	}
	for i := range 6 {
		want = append(want, tileOp{op: "tdpbf16ps", t: i, a: 6, b: 7}.String())
	}
	want = append(want, "tilerelease")
	if got := objdumpAMX(t, peak); !slices.Equal(got, want) {
		t.Errorf("peakAMX's AMX instructions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// requireAMX skips unless this process runs the AMX kernel, saying why.
func requireAMX(t *testing.T) *microKernel[uint32] {
	t.Helper()
	if k := usableAMX(); k != nil {
		return k
	}
	p := hostAMX{}
	if err := p.Support(); err != nil {
		t.Skipf("no AMX here: %v", err)
	}
	if err := p.RequestPermission(); err != nil {
		t.Skipf("the OS refuses the AMX tile state: %v", err)
	}
	t.Fatalf("AMX is supported and permitted but the kernel failed its self-check: %v", selfCheckBF16(amxKernel))
	return nil
}

// TestAMXHardware runs the assembly kernel on the emulated tests' shapes
// and convolutions, against the float64 product of the rounded operands
// and against the emulation (logged: Intel's pseudo-code fixes the order
// of the sums, so they should agree bit for bit, but only the tolerance
// is asserted).
func TestAMXHardware(t *testing.T) {
	kern := requireAMX(t)
	emu := emulatedAMXKernel()
	rng := rand.New(rand.NewPCG(9, 9))
	differ, total := 0, 0
	for s, sh := range amxShapes {
		accumulate := s%2 == 1
		beta := float32(0)
		if accumulate {
			beta = 1
		}
		p := newProblem(rng, false, s%3 == 0, sh.m, sh.n, sh.k, s%2, 1, beta)
		rounded := *p
		rounded.a, rounded.b = roundedCopy(p.a), roundedCopy(p.b)
		want := rounded.reference()
		got := append([]float32(nil), p.c...)
		SgemmPackedBF16(sh.m, p.a, p.lda, &PackedBBF16{panels: packWhole(kern, p.transB, sh.k, sh.n, p.b, p.ldb)}, got, p.ldc, accumulate)
		p.check(t, "amx weights", got, want)
		ref := append([]float32(nil), p.c...)
		SgemmPackedBF16(sh.m, p.a, p.lda, &PackedBBF16{panels: packWhole(emu, p.transB, sh.k, sh.n, p.b, p.ldb)}, ref, p.ldc, accumulate)
		for i := range sh.m {
			for j := range sh.n {
				total++
				if math.Float32bits(got[i*p.ldc+j]) != math.Float32bits(ref[i*p.ldc+j]) {
					differ++
				}
			}
		}

		alpha, beta2 := float32(0.5), []float32{0, 1, 0.25}[s%3]
		q := newProblem(rng, s%2 == 0, s%4 < 2, sh.m, sh.n, sh.k, 1, alpha, beta2)
		want = scaledBF16Reference(q, alpha)
		got = append([]float32(nil), q.c...)
		sgemmWorkers(kern, 0, q.transA, q.transB, q.m, q.n, q.k, alpha, q.a, q.lda, q.b, q.ldb, beta2, got, q.ldc)
		q.check(t, "amx activations", got, want)
	}
	t.Logf("AMX vs emulation: %d of %d elements differ in their bits", differ, total)
	for ci, cc := range convCases {
		x := randomMatrix(rng, 1, cc.n*cc.c*cc.h*cc.w)
		in := cc.input(x)
		wt := randomMatrix(rng, 1, cc.cout*in.K())
		want := naiveConvRows(in, wt, cc.cout)
		ldc := cc.cout + 3
		got := make([]float32, in.Rows()*ldc)
		SgemmConvPackedBF16(in, &PackedBBF16{panels: packWhole(kern, true, in.K(), cc.cout, wt, in.K())}, got, ldc, false)
		checkConv(t, kern.name, ci, in, cc.cout, got, ldc, want, false, 2e-2)
	}
}

// TestAMXSelected checks that where the process may use AMX, the bf16
// products do (BF16Backend reports "amx") and the peak loop runs.
func TestAMXSelected(t *testing.T) {
	requireAMX(t)
	if selectedKernel().name != "avx512" {
		t.Skipf("the fp32 backend is %s (%s set?), so bf16 products do not use the assembly kernels", selectedKernel().name, EnvBackend)
	}
	if got := BF16Backend(); got != amxKernelName {
		t.Errorf("BF16Backend() = %q on an AMX machine, want %q", got, amxKernelName)
	}
	loop, flops := peakAMXLoop()
	if loop == nil || flops == 0 {
		t.Fatal("no AMX peak loop on an AMX machine")
	}
	loop(1000)
}

// TestAMXPermissionWhereUnsupported checks that the selection on this
// machine agrees with the CPU flags: without AMX-BF16, AMX is not chosen.
func TestAMXPermissionWhereUnsupported(t *testing.T) {
	err := hostAMX{}.Support()
	if err == nil {
		t.Skip("this CPU supports AMX (TestAMXHardware covers it)")
	}
	if usableAMX() != nil {
		t.Fatalf("AMX chosen although %v", err)
	}
	if slices.Contains(bf16Kernels(), amxKernel) {
		t.Fatal("the AMX kernel is listed although the CPU lacks it")
	}
	if errors.Is(err, errBF16Mismatch) {
		t.Fatal("unsupported CPU reported as a self-check failure")
	}
	t.Logf("AMX not used: %v", err)
}

// TestAMXReorderChunks compares the AVX-512 reordering with the Go one.
func TestAMXReorderChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, chunks := range []int{1, 2, 5} {
		pairs := make([]uint32, chunks*amxChunkWords)
		for i := range pairs {
			pairs[i] = rng.Uint32()
		}
		want := make([]uint32, len(pairs)+16)
		got := make([]uint32, len(pairs)+16)
		amxReorderChunksGo(want, pairs, chunks)
		amxReorderChunks(got, pairs, chunks)
		if !slices.Equal(got, want) {
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%d chunks: word %d = %#x, want %#x", chunks, i, got[i], want[i])
				}
			}
		}
	}
}
