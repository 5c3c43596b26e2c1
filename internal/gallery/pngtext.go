package gallery

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"unicode/utf8"
)

// The PNG text keys InvokeAI embeds (docs/compatibility.md §8).
const (
	KeyMetadata = "invokeai_metadata"
	KeyWorkflow = "invokeai_workflow"
	KeyGraph    = "invokeai_graph"
)

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// maxTextBytes bounds the text one PNG may yield (after decompression), so that a small zTXt/iTXt bomb cannot
// exhaust memory.
const maxTextBytes = 32 << 20

var errNotPNG = errors.New("not a PNG file")

// ReadPNGText walks the chunks of a PNG held in data and returns the values of the wanted tEXt, zTXt and iTXt
// keywords (the first occurrence of each wins). Chunks with a bad CRC or a malformed layout end the walk with
// an error; text that cannot be decoded is skipped. It never reads past data.
func ReadPNGText(data []byte, wanted ...string) (map[string]string, error) {
	if !bytes.HasPrefix(data, pngSignature) {
		return nil, errNotPNG
	}
	want := make(map[string]bool, len(wanted))
	for _, k := range wanted {
		want[k] = true
	}
	out := map[string]string{}
	attempted := map[string]bool{}
	budget := maxTextBytes
	rest := data[len(pngSignature):]
	for len(rest) > 0 {
		if len(rest) < 12 {
			return out, errors.New("png: truncated chunk header")
		}
		length := binary.BigEndian.Uint32(rest[:4])
		if uint64(length) > uint64(len(rest)-12) {
			return out, errors.New("png: chunk longer than the file")
		}
		typ := rest[4:8]
		body := rest[8 : 8+length]
		crc := binary.BigEndian.Uint32(rest[8+length : 12+length])
		if crc32.Update(crc32.ChecksumIEEE(typ), crc32.IEEETable, body) != crc {
			return out, fmt.Errorf("png: bad CRC in %q chunk", typ)
		}
		rest = rest[12+length:]
		switch string(typ) {
		case "IEND":
			return out, nil
		case "tEXt", "zTXt", "iTXt":
			// The keyword is checked before anything is decompressed, so unwanted or repeated chunks cost
			// nothing, and the budget bounds the total text decoded.
			// Only the first chunk of each wanted key is decoded, valid or not, so a file full of repeated
			// compressed chunks cannot make the reader inflate the same budget again and again.
			key, _, _ := bytes.Cut(body, []byte{0})
			if attempted[string(key)] || !want[string(key)] {
				continue
			}
			attempted[string(key)] = true
			value, used, ok := decodeTextChunk(string(typ), body, budget)
			budget -= used
			if ok {
				out[string(key)] = value
			}
		}
	}
	return out, errors.New("png: missing IEND")
}

// decodeTextChunk decodes one text chunk's value; used is how many bytes of the budget it spent (the text
// length, or what was inflated before failing). limit bounds the decompressed size.
func decodeTextChunk(typ string, body []byte, limit int) (value string, used int, ok bool) {
	key, rest, found := bytes.Cut(body, []byte{0})
	if !found || len(key) == 0 || len(key) > 79 || limit <= 0 {
		return "", 0, false
	}
	switch typ {
	case "tEXt":
		return latin1(rest), len(rest), true
	case "zTXt":
		if len(rest) < 1 || rest[0] != 0 {
			return "", 0, false
		}
		text, err := inflate(rest[1:], limit)
		if err != nil {
			return "", len(text), false
		}
		return latin1(text), len(text), true
	default: // iTXt: flag, method, language\0, translated keyword\0, UTF-8 text
		if len(rest) < 2 {
			return "", 0, false
		}
		compressed, method := rest[0], rest[1]
		rest = rest[2:]
		if _, rest, found = bytes.Cut(rest, []byte{0}); !found {
			return "", 0, false
		}
		if _, rest, found = bytes.Cut(rest, []byte{0}); !found {
			return "", 0, false
		}
		text := rest
		switch {
		case compressed == 1 && method == 0:
			var err error
			if text, err = inflate(rest, limit); err != nil {
				return "", len(text), false
			}
		case compressed != 0:
			return "", 0, false
		}
		if len(text) > limit || !utf8.Valid(text) {
			return "", len(text), false
		}
		return string(text), len(text), true
	}
}

// inflate decompresses at most limit bytes; on failure it returns what it inflated, so the caller can charge it.
func inflate(b []byte, limit int) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if err != nil {
		return out, err
	}
	if len(out) > limit {
		return out, errors.New("png: text chunk too large")
	}
	return out, nil
}

func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// TextChunk is one keyword and value to embed.
type TextChunk struct {
	Key   string
	Value string
}

// EmbedPNGText inserts text chunks right after IHDR of an encoded PNG. ASCII values go into tEXt, anything
// else into an uncompressed iTXt (tEXt is Latin-1 and JSON from Go is UTF-8), as PIL does.
func EmbedPNGText(encoded []byte, chunks []TextChunk) ([]byte, error) {
	const ihdrEnd = 8 + 4 + 4 + 13 + 4
	if len(encoded) < ihdrEnd || !bytes.HasPrefix(encoded, pngSignature) || string(encoded[12:16]) != "IHDR" {
		return nil, errNotPNG
	}
	var buf bytes.Buffer
	buf.Grow(len(encoded) + 256)
	buf.Write(encoded[:ihdrEnd])
	for _, c := range chunks {
		var body []byte
		typ := "tEXt"
		if isASCII(c.Value) {
			body = append(append([]byte(c.Key), 0), c.Value...)
		} else {
			typ = "iTXt"
			body = append(append([]byte(c.Key), 0, 0, 0, 0, 0), c.Value...)
		}
		writeChunk(&buf, typ, body)
	}
	buf.Write(encoded[ihdrEnd:])
	return buf.Bytes(), nil
}

func writeChunk(w *bytes.Buffer, typ string, body []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(body)))
	w.Write(n[:])
	w.WriteString(typ)
	w.Write(body)
	crc := crc32.Update(crc32.ChecksumIEEE([]byte(typ)), crc32.IEEETable, body)
	binary.BigEndian.PutUint32(n[:], crc)
	w.Write(n[:])
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
