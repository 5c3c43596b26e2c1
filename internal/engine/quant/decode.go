package quant

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/invokego/invokego/internal/engine/torchmath"
)

// Block decoders (portable Go). Each expands len(dst)/BlockSize() whole
// blocks from src, which holds exactly that many blocks. Layouts are ggml's
// (little-endian; "half" is an IEEE binary16 scale):
//
//	Q4_0  d, qs[16]             x = d·(q−8)      q: low nibbles are elements 0–15, high nibbles 16–31
//	Q4_1  d, m, qs[16]          x = d·q + m
//	Q5_0  d, qh u32, qs[16]     x = d·(q−16)     bit j of qh is the fifth bit of element j
//	Q5_1  d, m, qh, qs[16]      x = d·q + m
//	Q8_0  d, qs[32] int8        x = d·q
//	Q2_K  scales[16], qs[64], d, dmin            16 groups of 16; 4-bit scale and min per group
//	Q3_K  hmask[32], qs[64], scales[12], d       16 groups of 16; 6-bit signed scales
//	Q4_K  d, dmin, scales[12], qs[128]           8 groups of 32; 6-bit scales and mins
//	Q5_K  d, dmin, scales[12], qh[32], qs[128]   as Q4_K with a fifth bit from qh
//	Q6_K  ql[128], qh[64], scales[16] int8, d    16 groups of 16
//
// Every product below (a half scale times small integers) is exact in
// float32; where a sum follows, the explicit float32 conversion keeps the
// compiler from fusing it into an FMA, so the single rounding matches numpy's.
type decodeFunc func(dst []float32, src []byte)

// decoders is the table in use: the portable decoders, replaced by
// assembly ones where the CPU has them (decode_amd64.go). It is built once
// at start-up and only read afterwards.
var decoders = func() map[Type]decodeFunc {
	m := make(map[Type]decodeFunc, len(portableDecoders))
	for t, f := range portableDecoders {
		m[t] = f
	}
	for t, f := range archDecoders() {
		m[t] = f
	}
	return m
}()

var portableDecoders = map[Type]decodeFunc{
	F32:  decodeF32,
	F16:  decodeF16,
	BF16: decodeBF16,
	F64:  decodeF64,
	Q4_0: decodeQ4_0,
	Q4_1: decodeQ4_1,
	Q5_0: decodeQ5_0,
	Q5_1: decodeQ5_1,
	Q8_0: decodeQ8_0,
	Q2_K: decodeQ2K,
	Q3_K: decodeQ3K,
	Q4_K: decodeQ4K,
	Q5_K: decodeQ5K,
	Q6_K: decodeQ6K,
}

// Decode expands src, whole blocks of type t, into dst (len(dst) elements;
// src must hold exactly their bytes).
func Decode(t Type, dst []float32, src []byte) error {
	dec, ok := decoders[t]
	if !ok {
		return fmt.Errorf("quant: cannot decode %s", t)
	}
	want, err := RowBytes(t, len(dst))
	if err != nil {
		return err
	}
	if len(src) != want {
		return fmt.Errorf("quant: %d %s elements need %d bytes, have %d", len(dst), t, want, len(src))
	}
	dec(dst, src)
	return nil
}

func half(b []byte) float32 { return torchmath.Float16ToFloat32(binary.LittleEndian.Uint16(b)) }

func decodeF32(dst []float32, src []byte) {
	src = src[:4*len(dst)]
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

func decodeF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = half(src[2*i:])
	}
}

func decodeBF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
	}
}

func decodeF64(dst []float32, src []byte) {
	src = src[:8*len(dst)]
	for i := range dst {
		dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
	}
}

func decodeQ4_0(dst []float32, src []byte) {
	for b := 0; b < len(dst)/32; b++ {
		blk := src[b*18 : b*18+18]
		out := dst[b*32 : b*32+32]
		d := half(blk)
		for j, q := range blk[2:18] {
			out[j] = d * float32(int(q&15)-8)
			out[j+16] = d * float32(int(q>>4)-8)
		}
	}
}

func decodeQ4_1(dst []float32, src []byte) {
	for b := 0; b < len(dst)/32; b++ {
		blk := src[b*20 : b*20+20]
		out := dst[b*32 : b*32+32]
		d, m := half(blk), half(blk[2:])
		for j, q := range blk[4:20] {
			out[j] = float32(d*float32(q&15)) + m
			out[j+16] = float32(d*float32(q>>4)) + m
		}
	}
}

func decodeQ5_0(dst []float32, src []byte) {
	for b := 0; b < len(dst)/32; b++ {
		blk := src[b*22 : b*22+22]
		out := dst[b*32 : b*32+32]
		d := half(blk)
		qh := binary.LittleEndian.Uint32(blk[2:])
		for j, q := range blk[6:22] {
			lo := int(q&15) | int(qh>>j&1)<<4
			hi := int(q>>4) | int(qh>>(j+16)&1)<<4
			out[j] = d * float32(lo-16)
			out[j+16] = d * float32(hi-16)
		}
	}
}

func decodeQ5_1(dst []float32, src []byte) {
	for b := 0; b < len(dst)/32; b++ {
		blk := src[b*24 : b*24+24]
		out := dst[b*32 : b*32+32]
		d, m := half(blk), half(blk[2:])
		qh := binary.LittleEndian.Uint32(blk[4:])
		for j, q := range blk[8:24] {
			lo := uint32(q&15) | (qh>>j&1)<<4
			hi := uint32(q>>4) | (qh>>(j+16)&1)<<4
			out[j] = float32(d*float32(lo)) + m
			out[j+16] = float32(d*float32(hi)) + m
		}
	}
}

func decodeQ8_0(dst []float32, src []byte) {
	for b := 0; b < len(dst)/32; b++ {
		blk := src[b*34 : b*34+34]
		out := dst[b*32 : b*32+32]
		d := half(blk)
		for j, q := range blk[2:34] {
			out[j] = d * float32(int8(q))
		}
	}
}

// Q2_K: qs byte 32h+l holds, in bit pairs 2s, element 128h+32s+l; group g
// (16 elements) has scale d·(scales[g]&15) and min dmin·(scales[g]>>4).
func decodeQ2K(dst []float32, src []byte) {
	for b := 0; b < len(dst)/superBlock; b++ {
		blk := src[b*84 : b*84+84]
		out := dst[b*superBlock : (b+1)*superBlock]
		scales, qs := blk[:16], blk[16:80]
		d, dmin := half(blk[80:]), half(blk[82:])
		for h := range 2 {
			for s := range 4 {
				for l := range 32 {
					e := 128*h + 32*s + l
					sc := scales[e/16]
					q := float32(qs[32*h+l] >> (2 * s) & 3)
					out[e] = float32(d*float32(sc&15)*q) - dmin*float32(sc>>4)
				}
			}
		}
	}
}

// Q3_K: the low two bits of element 128h+32s+l are bits 2s of qs[32h+l];
// bit e/32 of hmask[e%32] clear means the value is 4 lower. The 16 six-bit
// scales take their low nibble from scales[0:8] (low then high nibbles) and
// their top two bits from scales[8:12].
func decodeQ3K(dst []float32, src []byte) {
	var sc [16]float32
	for b := 0; b < len(dst)/superBlock; b++ {
		blk := src[b*110 : b*110+110]
		out := dst[b*superBlock : (b+1)*superBlock]
		hmask, qs, scales := blk[:32], blk[32:96], blk[96:108]
		d := half(blk[108:])
		for i := range 16 {
			lo := scales[i%8] >> (4 * (i / 8)) & 15
			hi := scales[8+i%4] >> (2 * (i / 4)) & 3
			sc[i] = d * float32(int(lo|hi<<4)-32)
		}
		for h := range 2 {
			for s := range 4 {
				for l := range 32 {
					e := 128*h + 32*s + l
					q := int(qs[32*h+l] >> (2 * s) & 3)
					if hmask[e%32]>>(e/32)&1 == 0 {
						q -= 4
					}
					out[e] = sc[e/16] * float32(q)
				}
			}
		}
	}
}

// scaleMinK4 unpacks the eight 6-bit scales and mins of a Q4_K/Q5_K block.
func scaleMinK4(s []byte) (sc, mn [8]uint8) {
	for i := range 4 {
		sc[i] = s[i] & 63
		mn[i] = s[4+i] & 63
		sc[4+i] = s[8+i]&15 | s[i]>>2&0x30
		mn[4+i] = s[8+i]>>4 | s[4+i]>>2&0x30
	}
	return sc, mn
}

// Q4_K: element 64c+32h+l is nibble h of qs[32c+l]; group e/32.
func decodeQ4K(dst []float32, src []byte) {
	for b := 0; b < len(dst)/superBlock; b++ {
		blk := src[b*144 : b*144+144]
		out := dst[b*superBlock : (b+1)*superBlock]
		d, dmin := half(blk), half(blk[2:])
		sc, mn := scaleMinK4(blk[4:16])
		qs := blk[16:144]
		for c := range 4 {
			for h := range 2 {
				g := 2*c + h
				ds, dm := d*float32(sc[g]), dmin*float32(mn[g])
				o := out[32*g : 32*g+32]
				for l, q := range qs[32*c : 32*c+32] {
					o[l] = float32(ds*float32(q>>(4*h)&15)) - dm
				}
			}
		}
	}
}

// Q5_K: as Q4_K, plus bit e/32 of qh[e%32] as the fifth bit.
func decodeQ5K(dst []float32, src []byte) {
	for b := 0; b < len(dst)/superBlock; b++ {
		blk := src[b*176 : b*176+176]
		out := dst[b*superBlock : (b+1)*superBlock]
		d, dmin := half(blk), half(blk[2:])
		sc, mn := scaleMinK4(blk[4:16])
		qh, qs := blk[16:48], blk[48:176]
		for c := range 4 {
			for h := range 2 {
				g := 2*c + h
				ds, dm := d*float32(sc[g]), dmin*float32(mn[g])
				o := out[32*g : 32*g+32]
				for l, q := range qs[32*c : 32*c+32] {
					v := q>>(4*h)&15 | (qh[l]>>g&1)<<4
					o[l] = float32(ds*float32(v)) - dm
				}
			}
		}
	}
}

// Q6_K: element 128h+32t+l (l < 32) takes its low nibble from
// ql[64h+32(t%2)+l] (nibble t/2) and bits 4–5 from bits 2t of qh[32h+l];
// group e/16 has scale d·scales[e/16].
func decodeQ6K(dst []float32, src []byte) {
	for b := 0; b < len(dst)/superBlock; b++ {
		blk := src[b*210 : b*210+210]
		out := dst[b*superBlock : (b+1)*superBlock]
		ql, qh, scales := blk[:128], blk[128:192], blk[192:208]
		d := half(blk[208:])
		for h := range 2 {
			for t := range 4 {
				for l := range 32 {
					e := 128*h + 32*t + l
					lo := ql[64*h+32*(t%2)+l] >> (4 * (t / 2)) & 15
					hi := qh[32*h+l] >> (2 * t) & 3
					q := int(lo|hi<<4) - 32
					out[e] = d * float32(int8(scales[e/16])) * float32(q)
				}
			}
		}
	}
}
