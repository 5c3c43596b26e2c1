package flux

import (
	"slices"
	"testing"

	"github.com/invokego/invokego/internal/engine/tensor"
)

func TestPackGoldens(t *testing.T) {
	g := openGolden(t, "goldens", "packing.safetensors")
	for _, size := range []string{"8x8", "6x10", "12x8"} {
		lat := g.tensor("latent_" + size)
		packed, err := Pack(lat)
		if err != nil {
			t.Fatal(err)
		}
		want := g.tensor("packed_" + size)
		if !slices.Equal(packed.Shape, want.Shape) || !slices.Equal(packed.Data, want.Data) {
			t.Errorf("pack %s: shape %v, want %v (or values differ)", size, packed.Shape, want.Shape)
		}
		back, err := Unpack(packed, lat.Shape[2], lat.Shape[3])
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(back.Data, lat.Data) {
			t.Errorf("unpack %s does not give the latents back", size)
		}
		if ids := ImageIDs(lat.Shape[2], lat.Shape[3]); !slices.Equal(ids, g.floats("img_ids_"+size)) {
			t.Errorf("image ids %s differ", size)
		}
	}
	if _, err := Pack(tensor.New(1, 16, 7, 8)); err == nil {
		t.Error("odd latent height: no error")
	}
	if _, err := Unpack(tensor.New(1, 15, 64), 8, 8); err == nil {
		t.Error("unpack with the wrong token count: no error")
	}
}

func TestRopeGoldens(t *testing.T) {
	g := openGolden(t, "goldens", "rope_cos_sin.safetensors")
	ids := g.floats("ids")
	txt, img := ids[:3*24], ids[3*24:]
	r := newRope([]int{8, 12, 12}, txt, img)
	cos, sin := g.floats("cos"), g.floats("sin")
	// The golden repeats each pair's value for both of its elements.
	var gotCos, gotSin []float32
	for tok := range 40 {
		for p := range 16 {
			c, s := r.cos[tok*16+p], r.sin[tok*16+p]
			gotCos = append(gotCos, c, c)
			gotSin = append(gotSin, s, s)
		}
	}
	compareAbs(t, "cos", gotCos, cos, 0)
	compareAbs(t, "sin", gotSin, sin, 0)
}

func TestDefaultAxes(t *testing.T) {
	for hd, want := range map[int][]int{128: {16, 56, 56}, 32: {8, 12, 12}} {
		if got := DefaultAxes(hd); !slices.Equal(got, want) {
			t.Errorf("DefaultAxes(%d) = %v, want %v", hd, got, want)
		}
	}
	for hd := 2; hd <= 256; hd += 2 {
		a := DefaultAxes(hd)
		c := Config{PatchSize: 1, InChannels: 64, NumAttentionHeads: 1, AttentionHeadDim: hd, JointAttentionDim: 1, PooledProjectionDim: 1, AxesDimsRope: a}
		if hd >= 8 && c.Validate() != nil {
			t.Errorf("DefaultAxes(%d) = %v does not validate: %v", hd, a, c.Validate())
		}
	}
}
