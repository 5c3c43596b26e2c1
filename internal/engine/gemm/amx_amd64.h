// AMX (Advanced Matrix Extensions) instructions as bytes: the Go assembler
// has no mnemonics for them. Every form used is listed in amxEncodingTable
// (amx_amd64.s) and checked byte for byte against GNU as 2.40's encoding in
// testdata/amx_encodings.golden (TestAMXEncodings); docs/kernels.md has the
// layout of the operands.
//
// All are VEX-encoded in opcode map 0F38 with W0 and L0 (128-bit):
//   C4, [R̄ X̄ B̄ 00010], [0 v̄v̄v̄v̄ 0 pp], opcode, ModRM [, SIB, disp]
// pp: 00 none, 01 66, 10 F3, 11 F2. Tile registers are 0..7, so R̄ is 1.
// Register numbers for base/index are x86's: AX 0, CX 1, DX 2, BX 3, SI 6,
// DI 7, R8..R15 8..15. A TILELOADD/TILESTORED memory operand must use a SIB
// byte ([base + index·1 + disp], the index holding the row stride); a base
// of 5 or 13 (BP, R13) needs a displacement and is not supported by the
// mod-00 forms below.

#define amxVEX1(index, base) (0x82 | ((1-(((index)>>3)&1))<<6) | ((1-(((base)>>3)&1))<<5))
#define amxSIB(index, base) ((((index)&7)<<3) | ((base)&7))

// LDTILECFG (AX): load the 64-byte tile configuration at AX.
#define LDTILECFG_AX BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0x00

// STTILECFG (AX): store the tile configuration to AX.
#define STTILECFG_AX BYTE $0xC4; BYTE $0xE2; BYTE $0x79; BYTE $0x49; BYTE $0x00

// TILERELEASE: return the tile state to its initial (unused) state.
#define TILERELEASE BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0xC0

// TILEZERO(t): zero tile t.
#define TILEZERO(t) BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $(0xC0 | ((t)<<3))

// TDPBF16PS(c, a, b): tile c (fp32) += tile a (bf16 pairs) · tile b (bf16
// pairs); Intel's operand order "TDPBF16PS tmm_c, tmm_a, tmm_b" (c in
// ModRM.reg, a in ModRM.rm, b in VEX.vvvv).
#define TDPBF16PS(c, a, b) BYTE $0xC4; BYTE $0xE2; BYTE $(0x02 | ((15-(b))<<3)); BYTE $0x5C; BYTE $(0xC0 | ((c)<<3) | (a))

// TILELOADD(t, base, index): load tile t from rows at base, base+index, …
#define TILELOADD(t, base, index) BYTE $0xC4; BYTE $amxVEX1(index, base); BYTE $0x7B; BYTE $0x4B; BYTE $(0x04 | ((t)<<3)); BYTE $amxSIB(index, base)

// TILELOADD_D8(t, base, index, d): the same from base+d, 0 ≤ d < 128.
#define TILELOADD_D8(t, base, index, d) BYTE $0xC4; BYTE $amxVEX1(index, base); BYTE $0x7B; BYTE $0x4B; BYTE $(0x44 | ((t)<<3)); BYTE $amxSIB(index, base); BYTE $(d)

// TILELOADD_D32(t, base, index, d): the same from base+d, 0 ≤ d < 2³¹.
#define TILELOADD_D32(t, base, index, d) BYTE $0xC4; BYTE $amxVEX1(index, base); BYTE $0x7B; BYTE $0x4B; BYTE $(0x84 | ((t)<<3)); BYTE $amxSIB(index, base); BYTE $((d)&0xFF); BYTE $(((d)>>8)&0xFF); BYTE $(((d)>>16)&0xFF); BYTE $(((d)>>24)&0xFF)

// TILESTORED(t, base, index): store tile t's rows to base, base+index, …
#define TILESTORED(t, base, index) BYTE $0xC4; BYTE $amxVEX1(index, base); BYTE $0x7A; BYTE $0x4B; BYTE $(0x04 | ((t)<<3)); BYTE $amxSIB(index, base)

// TILESTORED_D8(t, base, index, d): the same to base+d, 0 ≤ d < 128.
#define TILESTORED_D8(t, base, index, d) BYTE $0xC4; BYTE $amxVEX1(index, base); BYTE $0x7A; BYTE $0x4B; BYTE $(0x44 | ((t)<<3)); BYTE $amxSIB(index, base); BYTE $(d)

// Register numbers for the operands above.
#define amxDX 2
#define amxSI 6
#define amxDI 7
#define amxR8 8
#define amxR9 9
#define amxR10 10
#define amxR11 11
