// x, the activations a matvec-core kernel multiplies (binding 3): a storage
// buffer, or with X_UNIFORM (the decode pipeline on CPU adapters, one
// invocation per row) a uniform window of its first X_UNIFORM_VECS vec4s. All
// invocations of a workgroup read the same x element at once there, and a
// rasterizer loads a uniform-buffer element once for all its lanes where a
// storage read is a loop over them (lavapipe: 1.3x the decode matvecs). With
// G_UNIFORM the including shader reads the folded norm weight the same way.
#ifdef X_UNIFORM
@group(0) @binding(3) var<uniform> x: array<vec4<f32>, X_UNIFORM_VECS>;  // (1, cols / 4): the step's one token
#else
@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>;            // (n_tokens, x_stride / 4)
#endif

// With PENDING the kernel's input is the residual stream with a post-norm
// residual add not yet applied (Gemma's post_attention_norm, post_ffw_norm,
// per-layer post_norm and layer output scale, folded into the next op that
// reads the stream): x' = (x + rmsnorm(xb) * pg) * ps, with the op's own
// epsilon (p.eps). Every workgroup computes what it reads of x' on the fly
// (`x_at`); with PENDING_OUT the op's first workgroup of each token group
// writes x' to x_out, a buffer no workgroup of the op reads.
#ifdef PENDING
#ifdef XB_UNIFORM
@group(0) @binding(10) var<uniform> xb: array<vec4<f32>, XB_UNIFORM_VECS>; // (1, cols / 4): read as x is, with X_UNIFORM
#else
@group(0) @binding(10) var<storage, read> xb: array<vec4<f32>>;            // (n_tokens, x_stride / 4) the post-norm's input
#endif
@group(0) @binding(11) var<uniform> pg: array<vec4<f32>, PENDING_G_VECS>;  // (cols / 4) the post-norm's weight
#ifdef PENDING_SCALE
@group(0) @binding(12) var<uniform> ps: vec4<f32>;                         // .x: the layer output scale
#endif
#ifdef PENDING_OUT
@group(0) @binding(13) var<storage, read_write> x_out: array<vec4<f32>>;   // (n_tokens, x_stride / 4) x'
#endif
#endif
