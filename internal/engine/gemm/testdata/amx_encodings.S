# The AMX instruction forms amx_amd64.s uses, in the order of its
# amxEncodingTable, in GNU (AT&T) syntax: operands are source first, and
# "tdpbf16ps %tmmB, %tmmA, %tmmC" is Intel's "TDPBF16PS tmmC, tmmA, tmmB".
	ldtilecfg (%rax)
	sttilecfg (%rax)
	tilerelease
	tilezero %tmm0
	tilezero %tmm1
	tilezero %tmm2
	tilezero %tmm3
	tilezero %tmm4
	tilezero %tmm5
	tilezero %tmm6
	tilezero %tmm7
	tileloadd (%rdi,%rdx,1), %tmm0
	tileloadd 0x40(%rdi,%rdx,1), %tmm1
	tileloadd (%r9,%rdx,1), %tmm2
	tileloadd 0x40(%r9,%rdx,1), %tmm3
	tileloadd (%rsi,%r10,1), %tmm4
	tileloadd 0x400(%rsi,%r10,1), %tmm5
	tileloadd (%r8,%r11,1), %tmm6
	tileloadd 0x40(%r8,%r11,1), %tmm7
	tdpbf16ps %tmm6, %tmm4, %tmm0
	tdpbf16ps %tmm7, %tmm4, %tmm1
	tdpbf16ps %tmm6, %tmm5, %tmm2
	tdpbf16ps %tmm7, %tmm5, %tmm3
	tdpbf16ps %tmm7, %tmm6, %tmm0
	tdpbf16ps %tmm7, %tmm6, %tmm1
	tdpbf16ps %tmm7, %tmm6, %tmm2
	tdpbf16ps %tmm7, %tmm6, %tmm3
	tdpbf16ps %tmm7, %tmm6, %tmm4
	tdpbf16ps %tmm7, %tmm6, %tmm5
	tilestored %tmm0, (%rdi,%rdx,1)
	tilestored %tmm1, 0x40(%rdi,%rdx,1)
	tilestored %tmm2, (%r9,%rdx,1)
	tilestored %tmm3, 0x40(%r9,%rdx,1)
	ret
