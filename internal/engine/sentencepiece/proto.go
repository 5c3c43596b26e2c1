// Package sentencepiece reads SentencePiece model files (spiece.model) and
// encodes text with their unigram model, as T5's tokenizer does: the
// normalization table stored in the file, Viterbi segmentation over the
// pieces' scores, and the T5 conventions on top (special tokens typed in
// the text, </s>, truncation and padding) in t5.go.
//
// The model file is untrusted input: the protobuf reader below checks every
// length, count and table offset before use (docs/security.md).
package sentencepiece

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Limits on model files. Real ones are a few megabytes with at most a few
// hundred thousand pieces.
const (
	MaxModelBytes = 64 << 20
	MaxPieces     = 1 << 21
	maxPieceBytes = 1 << 10
)

// protobuf wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// pbReader walks one protobuf message with bounds checks.
type pbReader struct {
	b   []byte
	off int
}

var errTruncated = errors.New("truncated protobuf")

func (r *pbReader) done() bool { return r.off >= len(r.b) }

func (r *pbReader) varint() (uint64, error) {
	var v uint64
	for i := 0; i < 10; i++ {
		if r.off >= len(r.b) {
			return 0, errTruncated
		}
		c := r.b[r.off]
		r.off++
		if i == 9 && c > 1 {
			return 0, errors.New("protobuf varint overflows 64 bits")
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, nil
		}
	}
	return 0, errors.New("protobuf varint longer than 10 bytes")
}

// field reads the next field key.
func (r *pbReader) field() (num int, wire int, err error) {
	k, err := r.varint()
	if err != nil {
		return 0, 0, err
	}
	if k>>3 == 0 || k>>3 > math.MaxInt32 {
		return 0, 0, fmt.Errorf("protobuf field number %d", k>>3)
	}
	return int(k >> 3), int(k & 7), nil
}

func (r *pbReader) bytes() ([]byte, error) {
	n, err := r.varint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(r.b)-r.off) {
		return nil, fmt.Errorf("protobuf length %d exceeds the %d bytes left", n, len(r.b)-r.off)
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s, nil
}

func (r *pbReader) fixed32() (uint32, error) {
	if len(r.b)-r.off < 4 {
		return 0, errTruncated
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v, nil
}

// skip passes over a field of the given wire type.
func (r *pbReader) skip(wire int) error {
	switch wire {
	case wireVarint:
		_, err := r.varint()
		return err
	case wireFixed64:
		if len(r.b)-r.off < 8 {
			return errTruncated
		}
		r.off += 8
		return nil
	case wireBytes:
		_, err := r.bytes()
		return err
	case wireFixed32:
		_, err := r.fixed32()
		return err
	}
	return fmt.Errorf("unsupported protobuf wire type %d", wire)
}

// expect checks a field's wire type.
func expect(num, wire, want int) error {
	if wire != want {
		return fmt.Errorf("protobuf field %d has wire type %d, want %d", num, wire, want)
	}
	return nil
}

// PieceType is a SentencePiece piece type.
type PieceType int

// Piece types (sentencepiece_model.proto).
const (
	Normal      PieceType = 1
	Unknown     PieceType = 2
	Control     PieceType = 3
	UserDefined PieceType = 4
	Unused      PieceType = 5
	Byte        PieceType = 6
)

// Piece is one vocabulary entry; its id is its index.
type Piece struct {
	Text  string
	Score float32
	Type  PieceType
}

// modelProto is the part of ModelProto the encoder needs.
type modelProto struct {
	pieces         []Piece
	modelType      int // TrainerSpec.model_type: 1 unigram, 2 BPE, 3 word, 4 char
	byteFallback   bool
	suffixSpace    bool // TrainerSpec.treat_whitespace_as_suffix
	normalizerName string
	charsmap       []byte
	addDummyPrefix bool
	removeExtraWS  bool
	escapeWS       bool
}

// parseModelProto decodes ModelProto: pieces (field 1), trainer_spec (2),
// normalizer_spec (3); other fields are skipped.
func parseModelProto(b []byte) (*modelProto, error) {
	if len(b) > MaxModelBytes {
		return nil, fmt.Errorf("model of %d bytes exceeds the %d-byte limit", len(b), MaxModelBytes)
	}
	m := &modelProto{modelType: 1, addDummyPrefix: true, removeExtraWS: true, escapeWS: true}
	r := &pbReader{b: b}
	for !r.done() {
		num, wire, err := r.field()
		if err != nil {
			return nil, err
		}
		switch num {
		case 1:
			if err := expect(num, wire, wireBytes); err != nil {
				return nil, err
			}
			if len(m.pieces) >= MaxPieces {
				return nil, fmt.Errorf("more than %d pieces", MaxPieces)
			}
			msg, err := r.bytes()
			if err != nil {
				return nil, err
			}
			p, err := parsePiece(msg)
			if err != nil {
				return nil, fmt.Errorf("piece %d: %w", len(m.pieces), err)
			}
			m.pieces = append(m.pieces, p)
		case 2:
			if err := expect(num, wire, wireBytes); err != nil {
				return nil, err
			}
			msg, err := r.bytes()
			if err != nil {
				return nil, err
			}
			if err := m.parseTrainerSpec(msg); err != nil {
				return nil, fmt.Errorf("trainer_spec: %w", err)
			}
		case 3:
			if err := expect(num, wire, wireBytes); err != nil {
				return nil, err
			}
			msg, err := r.bytes()
			if err != nil {
				return nil, err
			}
			if err := m.parseNormalizerSpec(msg); err != nil {
				return nil, fmt.Errorf("normalizer_spec: %w", err)
			}
		default:
			if err := r.skip(wire); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func parsePiece(b []byte) (Piece, error) {
	p := Piece{Type: Normal}
	r := &pbReader{b: b}
	for !r.done() {
		num, wire, err := r.field()
		if err != nil {
			return p, err
		}
		switch num {
		case 1:
			if err := expect(num, wire, wireBytes); err != nil {
				return p, err
			}
			s, err := r.bytes()
			if err != nil {
				return p, err
			}
			if len(s) > maxPieceBytes {
				return p, fmt.Errorf("piece of %d bytes", len(s))
			}
			p.Text = string(s)
		case 2:
			if err := expect(num, wire, wireFixed32); err != nil {
				return p, err
			}
			u, err := r.fixed32()
			if err != nil {
				return p, err
			}
			p.Score = math.Float32frombits(u)
		case 3:
			if err := expect(num, wire, wireVarint); err != nil {
				return p, err
			}
			v, err := r.varint()
			if err != nil {
				return p, err
			}
			if v < 1 || v > 6 {
				return p, fmt.Errorf("piece type %d", v)
			}
			p.Type = PieceType(v)
		default:
			if err := r.skip(wire); err != nil {
				return p, err
			}
		}
	}
	return p, nil
}

// TrainerSpec fields read: model_type (3), treat_whitespace_as_suffix (24),
// byte_fallback (35).
func (m *modelProto) parseTrainerSpec(b []byte) error {
	r := &pbReader{b: b}
	for !r.done() {
		num, wire, err := r.field()
		if err != nil {
			return err
		}
		switch num {
		case 3, 24, 35:
			if err := expect(num, wire, wireVarint); err != nil {
				return err
			}
			v, err := r.varint()
			if err != nil {
				return err
			}
			switch num {
			case 3:
				m.modelType = int(min(v, 1<<20))
			case 24:
				m.suffixSpace = v != 0
			case 35:
				m.byteFallback = v != 0
			}
		default:
			if err := r.skip(wire); err != nil {
				return err
			}
		}
	}
	return nil
}

// NormalizerSpec fields: name (1), precompiled_charsmap (2),
// add_dummy_prefix (3), remove_extra_whitespaces (4), escape_whitespaces (5).
func (m *modelProto) parseNormalizerSpec(b []byte) error {
	r := &pbReader{b: b}
	for !r.done() {
		num, wire, err := r.field()
		if err != nil {
			return err
		}
		switch num {
		case 1, 2:
			if err := expect(num, wire, wireBytes); err != nil {
				return err
			}
			s, err := r.bytes()
			if err != nil {
				return err
			}
			if num == 1 {
				m.normalizerName = string(s)
			} else {
				m.charsmap = s
			}
		case 3, 4, 5:
			if err := expect(num, wire, wireVarint); err != nil {
				return err
			}
			v, err := r.varint()
			if err != nil {
				return err
			}
			switch num {
			case 3:
				m.addDummyPrefix = v != 0
			case 4:
				m.removeExtraWS = v != 0
			case 5:
				m.escapeWS = v != 0
			}
		default:
			if err := r.skip(wire); err != nil {
				return err
			}
		}
	}
	return nil
}
