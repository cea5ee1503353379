// Element type of the KV cache: f16 when the device has shader-f16 (as
// llama.cpp's default cache), else f32.
#ifdef F16
alias kv_t = f16;
#else
alias kv_t = f32;
#endif
