package app

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/invokego/invokego/internal/engine/quant"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/nodes/diffusion"
	"github.com/invokego/invokego/internal/nodes/fluxnode"
	"github.com/invokego/invokego/internal/store"
)

// fluxLoader loads the FLUX side of the model manager (FLUX main models, T5 and CLIP encoders, the FLUX
// VAE and LoRAs) for the model cache.
func (a *App) fluxLoader() fluxnode.Loader {
	compute := quant.ComputeF32
	if a.cfg.Precision == "bfloat16" || a.cfg.Precision == "bf16" {
		// InvokeAI's precision setting: bfloat16 operands (AVX512_BF16 where the CPU has it) for the FLUX
		// transformer and T5; "auto" keeps float32, as InvokeAI does on a CPU.
		compute = quant.ComputeBF16
	}
	return fluxnode.Loader{
		Compute: compute,
		PathOf:  a.Models.Records.AbsPath,
		// A T5 encoder stored as GGUF carries no tokenizer; T5's vocabulary is shared by every T5 v1.1
		// encoder, so any installed copy serves.
		T5Tokenizers: func(ctx context.Context) ([]string, error) {
			dirs := []string{filepath.Join(a.Models.Records.ModelsDir(), ".tokenizers", "t5")}
			for _, f := range []store.ModelFilter{
				{Type: models.TypeT5Encoder, Format: models.FormatT5Encoder},
				{Type: models.TypeMain, Format: models.FormatDiffusers, Bases: []string{models.BaseFlux}},
			} {
				list, err := a.Models.Records.List(ctx, f)
				if err != nil {
					return nil, err
				}
				for _, m := range list {
					dirs = append(dirs, filepath.Join(a.Models.Records.AbsPath(m.Path), fluxnode.SubTokenizer2))
				}
			}
			return dirs, nil
		},
	}
}

// registerFlux registers the FLUX nodes, sharing the diffusion nodes' object store.
func (a *App) registerFlux(objects *diffusion.ObjectStore) {
	fluxnode.Register(a.NodeRegistry(), fluxnode.Deps{
		Records:      a.Models.Records,
		Cache:        a.Models.Cache,
		Store:        objects,
		MemAvailable: memAvailable,
		PathOf:       a.Models.Records.AbsPath,
	})
}

// memAvailable reads the kernel's estimate of the memory it can still give (MemAvailable in
// /proc/meminfo); ok is false where there is none.
func memAvailable() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) < 1 {
			return 0, false
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, false
		}
		return kb << 10, true
	}
	return 0, false
}
