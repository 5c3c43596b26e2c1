package models

// Control and image adapter records: InvokeAI's ControlNet_{Diffusers,Checkpoint}_{SD1,SD2,SDXL}_Config (with
// control-adapter default settings), T2IAdapter_Diffusers_{SD1,SDXL}_Config, IPAdapter_Checkpoint_*_Config
// (the common fields only, no config_path), IPAdapter_InvokeAI_*_Config (image_encoder_model_id) and
// CLIPVision_Diffusers_Config (base "any").

// Adapter model types and formats.
const (
	TypeIPAdapter  = "ip_adapter"
	TypeT2IAdapter = "t2i_adapter"
	TypeCLIPVision = "clip_vision"
	FormatInvokeAI = "invokeai"
)

// adapterRecordFields adds the fields the adapter config classes have beyond the common ones.
func adapterRecordFields(c Config, m map[string]any) {
	if c.Type == TypeCLIPVision {
		m["cpu_only"] = c.CPUOnly
	}
	if c.Type == TypeIPAdapter && c.Format == FormatInvokeAI {
		id := ""
		if c.ImageEncoderModelID != nil {
			id = *c.ImageEncoderModelID
		}
		m["image_encoder_model_id"] = id
	}
}

// hasConfigPath reports whether InvokeAI's checkpoint config class of a type has config_path.
func hasConfigPath(typ string) bool {
	return typ != TypeSpandrel && typ != TypeIPAdapter
}
