using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// <see cref="CrossScan"/>'s scan and merge in one pass each over channels-last float32 maps, the layout SS2D keeps
/// between its conv and its out_norm (docs/architecture.md §6). The scan reads the map (B, H, W, C) in tiles of 8 pixels
/// × 8 channels, transposes each tile in registers (<see cref="Transposes.Transpose8"/>) and writes it to all four
/// routes at once: routes 0 and 2 from pixels in row-major order, routes 1 and 3 in column-major order, the reversed
/// routes as lane-reversed stores from the end of the row. The merge does the mirror image and writes the map
/// channels-last, so out_norm reads it without a transpose. A work item is one image and 8 channels: its pixels
/// (8 floats each, C apart) stay in L2 between the row-major and the column-major pass.
/// The libtorch copies in <see cref="CrossScan"/> are the path for every other layout, dtype and channel count; the
/// index-list twins there are the references.
/// </summary>
internal static unsafe class CrossScanCpu
{
    const int W = 8;

    /// <summary>The scan kernel runs <paramref name="x"/> (B, C, H, W): float32 on the CPU, channels-last, C a multiple
    /// of 8, AVX2.</summary>
    public static bool SupportsMap(Tensor x) =>
        Avx2.IsSupported && x.device_type == DeviceType.CPU && x.dtype == ScalarType.Float32 && x.shape[1] % W == 0 && ChannelsLast.Is(x);

    /// <summary>The merge kernel runs <paramref name="ys"/> (B, 4, C, L): float32 on the CPU, C a multiple of 8, AVX2.</summary>
    public static bool SupportsRoutes(Tensor ys) =>
        Avx2.IsSupported && ys.device_type == DeviceType.CPU && ys.dtype == ScalarType.Float32 && ys.shape[2] % W == 0;

    /// <summary>(B, C, H, W) channels-last → (B, 4, C, H·W) contiguous.</summary>
    public static Tensor Scan(Tensor x)
    {
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var xs = empty(new[] { b, 4, c, h * w }, dtype: x.dtype, device: x.device);
        using var nhwc = x.permute(0, 2, 3, 1);                                    // contiguous (SupportsMap)
        var job = new Job(b, c, h, w, SelectiveScanCpu.Ptr<float>(nhwc), SelectiveScanCpu.Ptr<float>(xs));
        OpenMpTeam.For(0L, job.Items, TorchRuntime.KernelParallelism, job.Scan);
        GC.KeepAlive(nhwc);
        return xs;
    }

    /// <summary>(B, 4, C, H·W) → (B, C, H, W) stored channels-last.</summary>
    public static Tensor Merge(Tensor ys, long height, long width)
    {
        long b = ys.shape[0], c = ys.shape[2];
        var src = ys.is_contiguous() ? ys : ys.contiguous();
        using var nhwc = empty(new[] { b, height, width, c }, dtype: ys.dtype, device: ys.device);
        var job = new Job(b, c, height, width, SelectiveScanCpu.Ptr<float>(nhwc), SelectiveScanCpu.Ptr<float>(src));
        OpenMpTeam.For(0L, job.Items, TorchRuntime.KernelParallelism, job.Merge);
        GC.KeepAlive(src);
        if (!ReferenceEquals(src, ys)) src.Dispose();
        return nhwc.permute(0, 3, 1, 2);
    }

    /// <summary>One call's pointers and sizes: the map (B, H, W, C) and the routes (B, 4, C, L).</summary>
    sealed class Job(long batch, long channels, long height, long width, float* map, float* routes)
    {
        readonly long c = channels, h = height, w = width, l = height * width;
        public long Items { get; } = batch * (channels / W);

        /// <summary>Image i / (C/8), channels 8·(i mod C/8) onward: pixel rows of the map, channel rows of route 0.</summary>
        float* Pixels(long item) => map + item / (c / W) * l * c + item % (c / W) * W;

        float* Route0(long item) => routes + (item / (c / W) * 4 * c + item % (c / W) * W) * l;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // skip tier-0 (docs/architecture.md §6)
        public void Scan(long item)
        {
            float* pixels = Pixels(item), r0 = Route0(item);
            long route = c * l;
            ScanRoutes(pixels, r0, r0 + 2 * route, columnMajor: false);
            ScanRoutes(pixels, r0 + route, r0 + 3 * route, columnMajor: true);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Merge(long item)
        {
            float* pixels = Pixels(item), r0 = Route0(item);
            long route = c * l;
            MergeRoutes(pixels, r0, r0 + 2 * route, columnMajor: false);
            MergeRoutes(pixels, r0 + route, r0 + 3 * route, columnMajor: true);
        }

        /// <summary>Route positions q → pixels: q itself in row-major order; q = w·H + h reads pixel h·W + w in
        /// column-major order (docs/models/vmamba.md §6 step 3). Walks q upwards one step at a time.</summary>
        struct Walk(long height, long width, bool columnMajor)
        {
            long row, col, pixel;

            public long Next()
            {
                long p = pixel;
                if (!columnMajor) pixel++;
                else if (++row < height) pixel += width;
                else { row = 0; pixel = ++col; }
                return p;
            }
        }

        /// <summary>Writes the 8 channel rows of a forward route and its reverse (position q → L − 1 − q).</summary>
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        void ScanRoutes(float* pixels, float* fwd, float* rev, bool columnMajor)
        {
            var walk = new Walk(h, w, columnMajor);
            var o = stackalloc Vector256<float>[W];
            long q = 0;
            for (; q + W <= l; q += W)
            {
                float* p0 = pixels + walk.Next() * c, p1 = pixels + walk.Next() * c, p2 = pixels + walk.Next() * c,
                    p3 = pixels + walk.Next() * c, p4 = pixels + walk.Next() * c, p5 = pixels + walk.Next() * c,
                    p6 = pixels + walk.Next() * c, p7 = pixels + walk.Next() * c;
                Transposes.Transpose8(Vector256.Load(p0), Vector256.Load(p1), Vector256.Load(p2), Vector256.Load(p3),
                    Vector256.Load(p4), Vector256.Load(p5), Vector256.Load(p6), Vector256.Load(p7),
                    out o[0], out o[1], out o[2], out o[3], out o[4], out o[5], out o[6], out o[7]);
                for (int j = 0; j < W; j++)
                {
                    Vector256.Store(o[j], fwd + j * l + q);
                    Vector256.Store(Reverse(o[j]), rev + j * l + l - W - q);
                }
            }
            for (; q < l; q++)
            {
                float* p = pixels + walk.Next() * c;
                for (int j = 0; j < W; j++) fwd[j * l + q] = rev[j * l + l - 1 - q] = p[j];
            }
        }

        /// <summary>Adds a forward route and its reverse back onto the 8 channels of the pixels they read; the row-major
        /// pair writes the pixels, the column-major pair adds to them.</summary>
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        void MergeRoutes(float* pixels, float* fwd, float* rev, bool columnMajor)
        {
            var walk = new Walk(h, w, columnMajor);
            var v = stackalloc Vector256<float>[W];
            var o = stackalloc Vector256<float>[W];
            long q = 0;
            for (; q + W <= l; q += W)
            {
                for (int j = 0; j < W; j++)
                    v[j] = Vector256.Load(fwd + j * l + q) + Reverse(Vector256.Load(rev + j * l + l - W - q));
                Transposes.Transpose8(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
                    out o[0], out o[1], out o[2], out o[3], out o[4], out o[5], out o[6], out o[7]);
                for (int i = 0; i < W; i++)
                {
                    float* p = pixels + walk.Next() * c;
                    Vector256.Store(columnMajor ? Vector256.Load(p) + o[i] : o[i], p);
                }
            }
            for (; q < l; q++)
            {
                float* p = pixels + walk.Next() * c;
                for (int j = 0; j < W; j++)
                {
                    float s = fwd[j * l + q] + rev[j * l + l - 1 - q];
                    p[j] = columnMajor ? p[j] + s : s;
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector256<float> Reverse(Vector256<float> x) => Avx2.PermuteVar8x32(x, Vector256.Create(7, 6, 5, 4, 3, 2, 1, 0));
    }
}
