// Package sd implements the Stable Diffusion networks with the semantics of
// Hugging Face diffusers and transformers, in float32:
//
//   - CLIPTextModel: transformers' CLIPTextModel / CLIPTextModelWithProjection
//     (all hidden states, pooled output, text_embeds, CLIP skip).
//   - UNet: diffusers' UNet2DConditionModel for SD-1.x, SD-2.x and SDXL
//     (text_time added conditioning).
//   - VAE: diffusers' AutoencoderKL encode and decode.
//
// Models load from diffusers folders (LoadDiffusersPipeline, Load*Folder) or
// from diffusers-named state dicts (New*); package ldm converts single-file
// original checkpoints to those names and loads them.
// Layer widths are always taken from the weight shapes, so unusual
// (tiny or pruned) architectures load as long as their structure is standard;
// configs supply what shapes cannot express, such as head counts.
//
// Every linear and convolution weight is pre-packed for gemm when a model is
// built (convolutions gather their input windows while packing, so no
// im2col matrix is formed) and the unpacked copy is released. The
// *WithOptions constructors and loaders accept Options{Precision: "bf16"}:
// weights are then packed as bfloat16 (half the memory) and multiplied with
// AVX512_BF16 dot products where the CPU has them, at a relative error of
// about 1e-2 on the UNet output (see TestBF16AgainstGoldens).
//
// Forward passes take a context.Context and stop between blocks when it is
// cancelled. Built models are immutable and safe for concurrent use; what one
// run changes (seamless tiling, layer patches) is a per-call option (run.go).
package sd
