package models

// Starter control adapters: the ones the Generate screen's Control and IP-Adapter panels and the Upscale
// screen's creative pass need (a tile ControlNet per base). Sources are Hugging Face repositories in the
// layouts the probe identifies (diffusers folders; the original IP-Adapter files with their image encoder).
func adapterStarters() []StarterModel {
	sd15Encoder := StarterModel{Name: "IP-Adapter image encoder (ViT-H)", Base: BaseAny, Type: TypeCLIPVision,
		Source:      "h94/IP-Adapter::models/image_encoder",
		Description: "CLIP ViT-H/14 image encoder used by the SD 1.5 and the ViT-H SDXL IP-Adapters. ~2.5GB"}
	return []StarterModel{
		{Name: "canny (SD 1.5)", Base: BaseSD1, Type: TypeControlNet, Source: "lllyasviel/control_v11p_sd15_canny",
			Description: "ControlNet guided by Canny edge maps. ~1.4GB"},
		{Name: "tile (SD 1.5)", Base: BaseSD1, Type: TypeControlNet, Source: "lllyasviel/control_v11f1e_sd15_tile",
			Description: "ControlNet that keeps a picture's structure while adding detail; the Upscale screen's creative pass uses it. ~1.4GB"},
		{Name: "canny (SDXL)", Base: BaseSDXL, Type: TypeControlNet, Source: "xinsir/controlnet-canny-sdxl-1.0",
			Description: "SDXL ControlNet guided by Canny edge maps. ~2.5GB"},
		{Name: "tile (SDXL)", Base: BaseSDXL, Type: TypeControlNet, Source: "xinsir/controlnet-tile-sdxl-1.0",
			Description: "SDXL tile ControlNet for the Upscale screen's creative pass. ~2.5GB"},
		{Name: "canny T2I-Adapter (SD 1.5)", Base: BaseSD1, Type: TypeT2IAdapter, Source: "TencentARC/t2iadapter_canny_sd15v2",
			Description: "A light T2I-Adapter guided by Canny edge maps. ~300MB"},
		{Name: "canny T2I-Adapter (SDXL)", Base: BaseSDXL, Type: TypeT2IAdapter, Source: "TencentARC/t2i-adapter-canny-sdxl-1.0",
			Description: "SDXL T2I-Adapter guided by Canny edge maps. ~160MB"},
		{Name: "IP-Adapter (SD 1.5)", Base: BaseSD1, Type: TypeIPAdapter, Source: "h94/IP-Adapter::models/ip-adapter_sd15.safetensors",
			Description: "Uses a reference image as a prompt. Needs its image encoder. ~45MB", Dependencies: []StarterModel{sd15Encoder}},
		{Name: "IP-Adapter Plus (SD 1.5)", Base: BaseSD1, Type: TypeIPAdapter, Source: "h94/IP-Adapter::models/ip-adapter-plus_sd15.safetensors",
			Description: "IP-Adapter with a Perceiver resampler: follows the reference image more closely. ~100MB", Dependencies: []StarterModel{sd15Encoder}},
		{Name: "IP-Adapter ViT-H (SDXL)", Base: BaseSDXL, Type: TypeIPAdapter, Source: "h94/IP-Adapter::sdxl_models/ip-adapter_sdxl_vit-h.safetensors",
			Description: "SDXL IP-Adapter on the ViT-H image encoder. ~700MB", Dependencies: []StarterModel{sd15Encoder}},
		sd15Encoder,
	}
}
