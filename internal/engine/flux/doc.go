// Package flux implements FLUX.1 (dev and schnell) with the semantics of
// diffusers' FluxTransformer2DModel and FluxPipeline and of InvokeAI's FLUX
// nodes, in float32 arithmetic:
//
//   - Transformer: the rectified-flow transformer (double-stream and
//     single-stream blocks, RoPE over the three position-id axes, q/k
//     RMS-norm, adaptive-norm modulation, timestep, guidance and pooled-text
//     embeddings), built from a diffusers transformer/ folder, an original
//     Black Forest Labs single file or any other named tensor store
//     (GGUF files come through the same Store interface).
//   - Packing: the 2×2 patchify between [B, 16, h, w] latents and
//     [B, h/2·w/2, 64] tokens, and the image position ids.
//   - Schedules: the flow-matching sigmas of diffusers'
//     FlowMatchEulerDiscreteScheduler (static shift for schnell,
//     resolution-dependent shift for dev) and InvokeAI's get_schedule.
//   - VAE: the 16-channel AutoencoderKL with its scale and shift factors
//     (the network is package sd's).
//   - Denoise: the Euler loop for text-to-image, image-to-image
//     (denoising_start) and inpainting (denoise mask), as InvokeAI runs it.
//
// Weights are used where they lie: float32 tensors of a memory-mapped file
// are multiplied in place, so the page cache, not the heap, holds them.
// Built models are immutable and safe for concurrent use; everything that
// varies per run (LoRA patches included) is an argument of the call.
package flux
