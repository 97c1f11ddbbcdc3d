/* The compiled-in site policy: config.h's data, gathered in one place. */
#include <stddef.h>

#include "vial.h"
#include CONFIG_H

const struct policy policy = {
	.protected = PROTECTED_DIRS,
	.nprotected = LEN(PROTECTED_DIRS),
	.image_group = IMAGE_GROUP,
	.user_formats = USER_FORMATS,
	.root_formats = ROOT_FORMATS,
	.share_loops = SHARE_LOOP_DEVICES,
	.max_loops = MAX_LOOP_DEVICES,
	.stage_dir = STAGE_DIR,
	.binds = DEFAULT_BINDS,
	.nbinds = LEN(DEFAULT_BINDS),
	.user_binds = ALLOW_USER_BINDS,
	.writable_tmpfs_size = WRITABLE_TMPFS_SIZE,
	.linger = LOOP_LINGER,
	.linger_dir = LINGER_DIR,
	.instance_dir = INSTANCE_DIR,
	.nv_libs = NV_LIBS,
	.n_nv_libs = LEN(NV_LIBS),
	.nv_bins = NV_BINS,
	.n_nv_bins = LEN(NV_BINS),
	.rocm_libs = ROCM_LIBS,
	.n_rocm_libs = LEN(ROCM_LIBS),
	.rocm_bins = ROCM_BINS,
	.n_rocm_bins = LEN(ROCM_BINS),
	.gpu_bin_dirs = GPU_BIN_DIRS,
	.n_gpu_bin_dirs = LEN(GPU_BIN_DIRS),
};
