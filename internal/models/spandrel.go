package models

// TypeSpandrel is InvokeAI's spandrel_image_to_image model type: an image-to-image network (the ESRGAN
// family here) whose only record fields are the common ones (Spandrel_Checkpoint_Config: base "any",
// format "checkpoint", no config_path).
const TypeSpandrel = "spandrel_image_to_image"

// spandrelStarters lists common upscaling models by Hugging Face id and file (owner/name::file).
func spandrelStarters() []StarterModel {
	return []StarterModel{
		{Name: "RealESRGAN_x4plus", Base: BaseAny, Type: TypeSpandrel, Source: "ai-forever/Real-ESRGAN::RealESRGAN_x4.pth",
			Description: "A Real-ESRGAN 4x upscaling model (general-purpose). ~64MB"},
		{Name: "RealESRGAN_x2plus", Base: BaseAny, Type: TypeSpandrel, Source: "ai-forever/Real-ESRGAN::RealESRGAN_x2.pth",
			Description: "A Real-ESRGAN 2x upscaling model (general-purpose). ~64MB"},
		{Name: "4x-UltraSharp", Base: BaseAny, Type: TypeSpandrel, Source: "lokCX/4x-Ultrasharp::4x-UltraSharp.pth",
			Description: "A 4x ESRGAN upscaling model that keeps edges sharp. ~64MB"},
	}
}
