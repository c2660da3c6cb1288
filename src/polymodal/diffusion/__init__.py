"""MT-Diffusion (multimodal, multitask diffusion; extra ``torch``): the forward process with modality encodings in
its mean (``process``), DDPM / DDIM sampling through ``diffusers`` schedulers (``sampling``)."""
