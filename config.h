/*
 * vial site policy. Data only: edit it (or a copy, built with
 * `make CONFIG=site.h`), rebuild, and copy the binary onto the nodes.
 * `vial config` prints what a binary was built with.
 */

/*
 * Protected directories: root-owned images in these directories may be
 * run by users who cannot read them. Each entry is a directory, the
 * group whose members may run its images (NULL: every user), and how
 * its runs are made:
 *   SEALED: nothing of the caller's can reach into the run, run inside
 *     the image's programs, or carry a reference out, so execute-only
 *     (0711) programs in the image stay unreadable (README, "What
 *     protection covers"). Costs: no unix sockets inside (so no MPI
 *     daemons, PMIx, dbus, X11), no debugger, no user namespaces,
 *     every place the caller can write noexec, no --writable-tmpfs.
 *   UNSEALED: for MPI applications and others that need what a seal
 *     costs: the image *file* stays unreadable and every run audited,
 *     but the run is an ordinary one, so execute-only programs in it are
 *     only as safe as the caller's goodwill.
 * An entry without a kind is SEALED.
 * Default: { "/opt/vial/protected", NULL, SEALED }.
 * Risk: anyone allowed can run every image placed there. vial refuses the
 * directory unless it and every directory above it is owned by root and
 * not writable by group or other. Keep it on local disk (or see
 * IMAGE_GROUP for root-squashed NFS). To turn the feature off, leave the
 * single entry { NULL, NULL, SEALED }.
 */
static const struct protected_dir PROTECTED_DIRS[] = {
	{ "/opt/vial/protected", NULL, SEALED },
};

/*
 * Image group for root-squashed NFS: when set, an image in a protected
 * directory owned by root:IMAGE_GROUP, mode 0640 (any group-readable mode
 * not writable by group or other), is opened with the caller's uid and
 * this group (never with root's rights, which the NFS server would
 * squash). Users must NOT be members of this group.
 * Default: NULL (off). Risk: every file this group can read under the
 * protected directories becomes runnable.
 */
#define IMAGE_GROUP NULL

/*
 * Formats vial mounts from images the caller could write (not owned by
 * root, or writable by group or other). Each format but FMT_DIR is a
 * kernel file system driver parsing bytes the user controls: attack
 * surface (CVE-2023-30549 reached ext4 through setuid Apptainer).
 * FMT_DIR is a directory (sandbox), bound read-only: no driver parses it.
 * Default: FMT_SQUASHFS | FMT_DIR.
 */
#define USER_FORMATS (FMT_SQUASHFS | FMT_DIR)

/*
 * Formats vial mounts from images owned by root and not writable by group
 * or other (an admin put them there). Default: all.
 */
#define ROOT_FORMATS (FMT_SQUASHFS | FMT_EXT | FMT_EROFS | FMT_DIR)

/*
 * Share loop devices: a launch reuses a device already bound read-only to
 * the same image, so all jobs on a node share one superblock and page
 * cache. Default: 1. Risk: none known; the access check comes first.
 */
#define SHARE_LOOP_DEVICES 1

/*
 * Highest number of loop devices vial will use (/dev/loop0 ..
 * /dev/loop<N-1>). Default: 256.
 */
#define MAX_LOOP_DEVICES 256

/*
 * Seconds an image stays mounted after the last launch that used it, so
 * that the next launch of it is warm (superblock and page cache kept):
 * for workflows that start many short containers one after another. A
 * holder process of the caller's, with no privilege, keeps one read-only
 * mount in a namespace of its own and exits when the time is up; a
 * container still running keeps its image as always. Needs
 * SHARE_LOOP_DEVICES. Default: 0, off. Risk: the holder lives in the job's
 * cgroup (the batch system ends it with the job); while it lives, the
 * image file stays open and its device counts against MAX_LOOP_DEVICES.
 */
#define LOOP_LINGER 0

/*
 * Where vial keeps one empty file per loop device with a holder: its mtime
 * is the last use, its lock the holder's. vial makes the directory, root's,
 * mode 0755, and refuses one that others can write. Default: "/run/vial".
 */
#define LINGER_DIR "/run/vial"

/*
 * Where vial keeps the record of each running instance (`vial instance
 * start`): INSTANCE_DIR/UID/NAME, its init's pid and start time. vial
 * makes the directories, root's, mode 0700, below directories only root
 * can write, and refuses them if others could write there: a record is
 * root's word on which process a user may join. On a tmpfs (/run) they
 * go with a reboot, as the instances do. Default: "/run/vial/instances".
 */
#define INSTANCE_DIR "/run/vial/instances"

/*
 * Host directory under which vial mounts its private staging tmpfs. The
 * mount exists only in the container's own mount namespace; the host
 * never sees it. It must exist on every node. Default: "/tmp".
 */
#define STAGE_DIR "/tmp"

/*
 * Binds every container gets, when the source exists on the host:
 * { source, destination, read-only }. A destination the image lacks is
 * made in vial's session overlay (never in the image), and a symlink in
 * the image is followed inside it (Debian's /etc/localtime ->
 * /usr/share/zoneinfo/...), never out to the host. Default: the host's
 * time zone, hosts and resolver files, read only. Risk: whatever is listed
 * is visible to every container.
 */
static const struct bind DEFAULT_BINDS[] = {
	{ "/etc/localtime", "/etc/localtime", 1 },
	{ "/etc/hosts", "/etc/hosts", 1 },
	{ "/etc/resolv.conf", "/etc/resolv.conf", 1 },
};

/*
 * Size cap of the in-memory layer that --writable-tmpfs makes writable
 * for one run (what the command writes over the image goes there, and is
 * gone when the container is). Default: "64m". Risk: each such run may
 * hold this much memory (tmpfs) until it ends.
 */
#define WRITABLE_TMPFS_SIZE "64m"

/*
 * May users bind host paths of their own choosing (-B)? Sources are
 * always opened with the user's own rights. Default: 1.
 */
#define ALLOW_USER_BINDS 1

/*
 * --nv: the host's NVIDIA driver files the container gets. Libraries are
 * found by name in the host's /etc/ld.so.cache (every entry for this
 * machine's architecture whose name is NAME or NAME.*, e.g. libcuda.so.1)
 * and bound read-only into /.singularity.d/libs, which vial appends to
 * LD_LIBRARY_PATH inside; binaries are looked for in GPU_BIN_DIRS and
 * bound into /usr/bin where the image has no such file. Only regular
 * files owned by root and not writable by group or other, not on a
 * user's FUSE mount, are bound, and a library only from within a
 * directory the cache names. Default: the driver's own libraries and
 * tools after Singularity's nvliblist.conf (with libnvidia-nvvm and
 * libnvidia-allocator of newer drivers; without the vendor-neutral GL
 * dispatch libraries, which images carry themselves). Risk: whatever is
 * listed here that root installed is visible in --nv containers.
 */
static const char *const NV_LIBS[] = {
	"libcuda.so", "libnvidia-ml.so", "libnvidia-ptxjitcompiler.so",
	"libnvidia-nvvm.so", "libnvidia-gpucomp.so", "libnvidia-allocator.so",
	"libnvidia-opencl.so", "libnvidia-compiler.so", "libnvidia-encode.so",
	"libnvcuvid.so", "libnvidia-fbc.so", "libnvidia-eglcore.so",
	"libnvidia-glcore.so", "libnvidia-glsi.so", "libnvidia-tls.so",
	"libnvidia-rtcore.so", "libnvoptix.so", "libGLX_nvidia.so",
	"libEGL_nvidia.so", "libGLESv2_nvidia.so", "libGLESv1_CM_nvidia.so",
	"libnvidia-glvkspirv.so", "libnvidia-cbl.so", "libvdpau_nvidia.so",
};
static const char *const NV_BINS[] = {
	"nvidia-smi", "nvidia-debugdump", "nvidia-persistenced",
	"nvidia-cuda-mps-control", "nvidia-cuda-mps-server",
};

/*
 * --rocm: the same for AMD GPUs. Default: the ROCm driver libraries of
 * Apptainer's rocmliblist.conf, without the general-purpose ones it also
 * lists: libelf, libnuma, libpci, the OpenCL ICD loader, and libdrm and
 * libdrm_amdgpu (the libdrm project's, in every distribution with Mesa,
 * on nodes without any AMD GPU too; they talk to the kernel through its
 * stable interface, so the image's own copies serve). Bound, a host's
 * copy would shadow the image's own, built for the image's C library,
 * and its presence alone would hide that the node has no ROCm driver.
 * Risk: a library added here that the image also has replaces the
 * image's in every --rocm run.
 */
static const char *const ROCM_LIBS[] = {
	"libamd_comgr.so", "libamdcomgr64.so", "libcomgr.so", "libhsakmt.so",
	"libhsa-runtime64.so", "libhsa-amd-aqlprofile64.so", "libamdocl64.so",
	"libcltrace.so", "libCXLActivityLogger.so", "librocr_debug_agent64.so",
};
static const char *const ROCM_BINS[] = { "rocm-smi", "rocminfo" };

/*
 * Host directories searched, in order, for NV_BINS and ROCM_BINS (vial
 * never reads the caller's PATH while it holds privilege). Default: the
 * system's bin directories and ROCm's. Risk: none beyond what they hold;
 * the files themselves must be root's.
 */
static const char *const GPU_BIN_DIRS[] = {
	"/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin", "/opt/rocm/bin",
};

/*
 * Devices: --nv binds /dev/nvidiactl, nvidia-uvm, nvidia-uvm-tools,
 * nvidia-modeset, nvidiaN and nvidia-caps/ into a --contain /dev (the
 * host's whole /dev is there without --contain); --rocm /dev/kfd and
 * /dev/dri/. These are the drivers' fixed names, not site policy.
 */
