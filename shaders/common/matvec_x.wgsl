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
