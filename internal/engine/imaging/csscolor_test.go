package imaging

import (
	"strings"
	"testing"
)

// FuzzParseColor: a colour string comes from a graph (invokeai_img_composite), so it is untrusted. Whatever it
// is, ParseColor answers an error or 3 or 4 values and never panics; keywords and hex forms stay within a byte
// (the functional forms are not clamped, as in Pillow: "hsb(0,110%,10%)" is (26, -2, -2) there too).
func FuzzParseColor(f *testing.F) {
	for _, s := range []string{"red", "#fff", "#ffff", "#123456", "#12345678", "rgb(1, 2, 3)", "rgb(10%, 20%, 30%)",
		"hsl(120, 50%, 50%)", "hsv(400.5, 100%, 100%)", "hsb(0,0%,0%)", "rgba(1,2,3,4)", "rgb(99999999999999999999,0,0)",
		"hsl(99999999999999999999.9, 100%, 100%)", "#ggg", "", strings.Repeat("(", 101)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseColor(s)
		if err != nil {
			if v != nil {
				t.Fatalf("%q: values %v with error %v", s, v, err)
			}
			return
		}
		if len(v) != 3 && len(v) != 4 {
			t.Fatalf("%q: %d values", s, len(v))
		}
		c := strings.ToLower(s)
		if strings.HasPrefix(c, "rgb") || strings.HasPrefix(c, "hs") {
			return
		}
		for _, x := range v {
			if x < 0 || x > 255 {
				t.Fatalf("%q: value %d outside a byte (%v)", s, x, v)
			}
		}
	})
}
