using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Ops;

/// <summary>
/// CPU selective scan: the SIMD loops of <see cref="ScanKernel{T}"/> (float32 and float64), multithreaded over
/// (batch × channel block) with <see cref="TorchRuntime.KernelParallelism"/>, inside a custom autograd Function
/// with the hand-written backward of docs/selective-scan.md §3. Memory stays linear in L: with gradients only the
/// chunk-end states are kept (and recomputed within chunks in the backward, as the CUDA kernel does); under
/// no_grad (or when no input requires grad) nothing is kept.
/// </summary>
public static class SelectiveScanCpu
{
    /// <summary>Test hook: the degree of parallelism for calls made on this thread (null = <see cref="TorchRuntime.KernelParallelism"/>).</summary>
    [ThreadStatic] internal static ParallelOptions? ParallelismOverride;

    /// <summary>Outputs at least this large are written with non-temporal stores (<see cref="KernelOptions.ScanStreamingBytes"/>).</summary>
    internal static long StreamingBytes => KernelOptions.Current.ScanStreamingBytes;

    public static bool Supports(ScanArguments a) => a.U.device_type == DeviceType.CPU;

    public static (Tensor y, Tensor lastState) Apply(ScanArguments a)
    {
        if (a.U.numel() == 0)
            return (zeros_like(a.U), zeros(a.Batch, a.Channels, a.States, dtype: a.U.dtype, device: a.U.device));
        bool needGrad = is_grad_enabled() && new[] { a.U, a.Delta, a.A, a.B, a.C, a.D, a.Z, a.DeltaBias }
            .Any(t => t is not null && t.requires_grad);
        if (!needGrad)
        {
            using var scope = NewDisposeScope();
            var dense = Contiguous(a);
            var (y, last, _) = Forward(dense, saveStates: false, ScanRowKernel.Preferred(dense));
            return (y.MoveToOuterDisposeScope(), last.MoveToOuterDisposeScope());
        }
        var outs = ScanFunction.apply(a.U, a.Delta, a.A, a.B, a.C, a.D!, a.Z!, a.DeltaBias!, a.DeltaSoftplus);
        // The state is returned without gradient (docs/selective-scan.md §1); detaching here rather than using
        // mark_non_differentiable avoids a TorchSharp 0.107 WrapOutputs quirk (docs/architecture.md §6).
        var lastState = outs[1].detach();
        outs[1].Dispose();
        return (outs[0], lastState);
    }

    /// <summary>Contiguous versions of the inputs; already-contiguous ones are passed through (no new handle).</summary>
    static ScanArguments Contiguous(ScanArguments a) => a with
    {
        U = Dense(a.U), Delta = Dense(a.Delta), A = Dense(a.A), B = Dense(a.B), C = Dense(a.C),
        D = a.D is null ? null : Dense(a.D), Z = a.Z is null ? null : Dense(a.Z),
        DeltaBias = a.DeltaBias is null ? null : Dense(a.DeltaBias),
    };

    static Tensor Dense(Tensor t) => t.is_contiguous() ? t : t.contiguous();

    /// <summary>
    /// Runs the forward; <paramref name="saveStates"/> keeps the lane kernel's chunk-end states for the backward;
    /// <paramref name="rows"/> selects the N = 1 row kernel (<see cref="ScanRowKernel.Applies"/>), which saves none.
    /// </summary>
    internal static (Tensor y, Tensor last, Tensor? saved) Forward(ScanArguments a, bool saveStates, bool rows) =>
        rows ? ForwardRows(a) : a.U.dtype == ScalarType.Float32 ? Forward<float>(a, saveStates) : Forward<double>(a, saveStates);

    internal static Grads Backward(ScanArguments a, Tensor? saved, Tensor gradY, bool rows) =>
        rows ? BackwardRows(a, gradY) : a.U.dtype == ScalarType.Float32 ? Backward<float>(a, saved, gradY) : Backward<double>(a, saved, gradY);

    internal sealed record Grads(Tensor DU, Tensor DDelta, Tensor DA, Tensor DB, Tensor DC, Tensor? DD, Tensor? DZ, Tensor? DBias);

    static unsafe (Tensor y, Tensor last, Tensor? saved) Forward<T>(ScanArguments a, bool saveStates) where T : unmanaged
    {
        var plan = new ScanPlan(a, Vector256<T>.Count);
        var y = empty_like(a.U);
        var last = empty(a.Batch, a.Channels, a.States, dtype: a.U.dtype, device: a.U.device);
        Tensor? saved = saveStates && plan.Chunks > 1
            ? empty((long)plan.Units * (plan.Chunks - 1) * plan.States * Vector256<T>.Count, dtype: a.U.dtype, device: a.U.device)
            : null;
        var k = NewKernel<T>(a, plan);
        try
        {
            k.Y = Ptr<T>(y);
            // y larger than half the L3 (32 MB here) would only evict the inputs: stream it past the cache when
            // every row starts 32-byte aligned (the chunk and tile offsets are multiples of 32 bytes).
            k.StreamY = Transposes.Supported && y.numel() * sizeof(T) >= StreamingBytes
                && plan.Length * sizeof(T) % 32 == 0 && ((nint)k.Y & 31) == 0;
            k.Last = Ptr<T>(last);
            k.Saved = saved is null ? null : Ptr<T>(saved);
            var items = k.WorkItems();
            Run(items.Length, k.ScratchVectors * sizeof(Vector256<T>), 0, (i, scratch, _) =>
            {
                var (ua, ub) = items[i];
                if (ub < 0) k.ForwardUnit(ua, (Vector256<T>*)scratch);
                else k.ForwardPair(ua, ub, (Vector256<T>*)scratch);
            }, null);
        }
        finally { k.Free(); }
        return (y, last, saved);
    }

    static unsafe Grads Backward<T>(ScanArguments a, Tensor? saved, Tensor gradY) where T : unmanaged
    {
        using var scope = NewDisposeScope();
        var plan = new ScanPlan(a, Vector256<T>.Count);
        var o = new GradBuffers(a);
        var g = Dense(gradY);
        var k = NewKernel<T>(a, plan);
        try
        {
            k.Saved = saved is null ? null : Ptr<T>(saved);
            k.G = Ptr<T>(g);
            k.DU = Ptr<T>(o.DU);
            k.DDelta = Ptr<T>(o.DDelta);
            k.DZ = o.DZ is null ? null : Ptr<T>(o.DZ);
            k.DAPart = Ptr<T>(o.DAPart);
            k.DDPart = Ptr<T>(o.DDPart);
            k.DBiasPart = Ptr<T>(o.DBiasPart);
            var items = k.WorkItems();
            RunBackward<T>(items.Length, Math.Max(k.ScratchVectors, k.PairScratchVectors) * sizeof(Vector256<T>), o, (i, scratch, dB, dC) =>
            {
                var (ua, ub) = items[i];
                if (ub < 0) k.BackwardUnit(ua, (Vector256<T>*)scratch, dB, dC);
                else k.BackwardPair(ua, ub, (Vector256<T>*)scratch, dB, dC);
            });
        }
        finally { k.Free(); }
        GC.KeepAlive(g); GC.KeepAlive(saved);   // read through raw pointers: a fresh gradient may have no other owner
        return o.Finish(a);
    }

    /// <summary>The backward's outputs: input gradients, per-(batch, channel) partial sums of dA, dD, dbias, and dB, dC.</summary>
    sealed class GradBuffers(ScanArguments a)
    {
        public readonly Tensor DU = empty_like(a.U), DDelta = empty_like(a.U);
        public readonly Tensor? DZ = a.Z is null ? null : empty_like(a.Z);
        public readonly Tensor DAPart = empty(a.Batch, a.Channels, a.States, dtype: a.U.dtype);
        public readonly Tensor DDPart = empty(a.Batch, a.Channels, dtype: a.U.dtype);
        public readonly Tensor DBiasPart = empty(a.Batch, a.Channels, dtype: a.U.dtype);
        public readonly Tensor DB = zeros(a.Batch, a.GroupsB, a.States, a.Length, dtype: a.U.dtype);
        public readonly Tensor DC = zeros(a.Batch, a.GroupsC, a.States, a.Length, dtype: a.U.dtype);

        /// <summary>The gradients in the inputs' shapes, moved out of the caller's dispose scope.</summary>
        public Grads Finish(ScanArguments a)
        {
            var grads = new Grads(DU, DDelta, DAPart.sum(0L), a.B.dim() == 3 ? DB.view(a.B.shape) : DB,
                a.C.dim() == 3 ? DC.view(a.C.shape) : DC, a.D is null ? null : DDPart.sum(0L), DZ,
                a.DeltaBias is null ? null : DBiasPart.sum(0L));
            foreach (var t in new[] { grads.DU, grads.DDelta, grads.DA, grads.DB, grads.DC, grads.DD, grads.DZ, grads.DBias })
                t?.MoveToOuterDisposeScope();
            return grads;
        }
    }

    unsafe delegate void BackwardBody<T>(int unit, void* scratch, T* dB, T* dC) where T : unmanaged;

    /// <summary>Runs a backward over its units; every thread sums dB, dC (reduced over the channels of a group)
    /// into its own zeroed buffers, added into <see cref="GradBuffers.DB"/>, <see cref="GradBuffers.DC"/> at the end.</summary>
    static unsafe void RunBackward<T>(int units, long scratchBytes, GradBuffers o, BackwardBody<T> body) where T : unmanaged
    {
        T* dBp = Ptr<T>(o.DB), dCp = Ptr<T>(o.DC);
        long nb = o.DB.numel(), nc = o.DC.numel();
        Run(units, scratchBytes, (nb + nc) * sizeof(T),
            (unit, scratch, acc) => body(unit, scratch, acc == null ? dBp : (T*)acc, acc == null ? dCp : (T*)acc + nb),
            acc =>
            {
                AddInto(dBp, (T*)acc, nb);
                AddInto(dCp, (T*)acc + nb, nc);
            });
    }

    static unsafe (Tensor y, Tensor last, Tensor? saved) ForwardRows(ScanArguments a)
    {
        var y = empty_like(a.U);
        var last = empty(a.Batch, a.Channels, 1, dtype: a.U.dtype, device: a.U.device);
        var k = new ScanRowKernel(a)
        {
            Y = Ptr<float>(y), Last = Ptr<float>(last),
            // As in Forward<T>: an output much larger than the cache is streamed past it.
            StreamY = y.numel() * sizeof(float) >= StreamingBytes,
        };
        Run(k.Units, 64, 0, (unit, _, _) => k.ForwardUnit(unit), null);
        return (y, last, null);
    }

    static unsafe Grads BackwardRows(ScanArguments a, Tensor gradY)
    {
        using var scope = NewDisposeScope();
        var o = new GradBuffers(a);
        var g = Dense(gradY);
        var k = new ScanRowKernel(a)
        {
            G = Ptr<float>(g), DU = Ptr<float>(o.DU), DDelta = Ptr<float>(o.DDelta),
            DZ = o.DZ is null ? null : Ptr<float>(o.DZ), DAPart = Ptr<float>(o.DAPart),
            DDPart = Ptr<float>(o.DDPart), DBiasPart = Ptr<float>(o.DBiasPart),
        };
        RunBackward<float>(k.Units, k.ScratchBytes, o, (unit, scratch, dB, dC) => k.BackwardUnit(unit, (float*)scratch, dB, dC));
        GC.KeepAlive(g);
        return o.Finish(a);
    }

    static unsafe ScanKernel<T> NewKernel<T>(ScanArguments a, ScanPlan plan) where T : unmanaged =>
        new(plan, Ptr<T>(a.A), a.D is null ? null : Ptr<T>(a.D), a.DeltaBias is null ? null : Ptr<T>(a.DeltaBias))
        {
            U = Ptr<T>(a.U), Delta = Ptr<T>(a.Delta), Z = a.Z is null ? null : Ptr<T>(a.Z), B = Ptr<T>(a.B), C = Ptr<T>(a.C),
        };

    internal static unsafe T* Ptr<T>(Tensor t) where T : unmanaged => (T*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));

    static unsafe void AddInto<T>(T* dst, T* src, long count) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) { var d = (float*)dst; var s = (float*)src; for (long i = 0; i < count; i++) d[i] += s[i]; }
        else { var d = (double*)dst; var s = (double*)src; for (long i = 0; i < count; i++) d[i] += s[i]; }
    }

    unsafe delegate void UnitBody(int unit, void* scratch, void* accumulator);
    unsafe delegate void Merge(void* accumulator);

    /// <summary>
    /// Runs <paramref name="body"/> for every unit, on <see cref="TorchRuntime.KernelParallelism"/> threads. Each
    /// thread gets its own 64-byte-aligned scratch and, when several threads run and <paramref name="accBytes"/> &gt; 0,
    /// a zeroed accumulator that <paramref name="merge"/> folds into the result (under a lock). On one thread the
    /// body gets a null accumulator and writes the result directly.
    /// </summary>
    static unsafe void Run(int units, long scratchBytes, long accBytes, UnitBody body, Merge? merge)
    {
        var options = ParallelismOverride ?? TorchRuntime.KernelParallelism;
        int threads = Math.Min(units, options.MaxDegreeOfParallelism is > 0 and var m ? m : Environment.ProcessorCount);
        if (threads <= 1)
        {
            void* scratch = NativeMemory.AlignedAlloc((nuint)scratchBytes, 64);
            try { for (int u = 0; u < units; u++) body(u, scratch, null); }
            finally { NativeMemory.AlignedFree(scratch); }
            return;
        }
        var gate = new object();
        OpenMpTeam.For(0, units, options,
            () =>
            {
                var scratch = (nint)NativeMemory.AlignedAlloc((nuint)scratchBytes, 64);
                nint acc = 0;
                if (accBytes > 0)
                {
                    acc = (nint)NativeMemory.AlignedAlloc((nuint)accBytes, 64);
                    NativeMemory.Clear((void*)acc, (nuint)accBytes);
                }
                return (scratch, acc);
            },
            (u, local) =>
            {
                body((int)u, (void*)local.scratch, (void*)local.acc);
                return local;
            },
            local =>
            {
                if (local.acc != 0)
                {
                    lock (gate) merge!((void*)local.acc);
                    NativeMemory.AlignedFree((void*)local.acc);
                }
                NativeMemory.AlignedFree((void*)local.scratch);
            });
    }

    /// <summary>The autograd Function: forward keeps the (contiguous) inputs and the chunk-end states.</summary>
    sealed class ScanFunction : autograd.MultiTensorFunction<ScanFunction>
    {
        public override string Name => nameof(SelectiveScanCpu);

        public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var a = Contiguous(new ScanArguments((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (Tensor)vars[3],
                (Tensor)vars[4], vars[5] as Tensor, vars[6] as Tensor, vars[7] as Tensor, (bool)vars[8]));
            bool rows = ScanRowKernel.Preferred(a);
            var (y, last, saved) = Forward(a, saveStates: true, rows);
            ctx.save_for_backward([a.U, a.Delta, a.A, a.B, a.C, a.D!, a.Z!, a.DeltaBias!, saved!]);
            ctx.save_data("softplus", a.DeltaSoftplus);
            ctx.save_data("rows", rows);
            // No zero-filling of missing output grads: TorchSharp 0.107 fills them from empty_like copies of the
            // outputs made at forward time, which a caller's dispose scope may already have freed.
            ctx.set_materialize_grads(false);
            return [y, last];
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> gradOutputs)
        {
            var s = ctx.get_saved_variables();
            var a = new ScanArguments(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], (bool)ctx.get_data("softplus"));
            var gy = gradOutputs[0];
            var g = Backward(a, s[8], gy is null || gy.IsInvalid ? zeros_like(a.U) : gy, (bool)ctx.get_data("rows"));
            foreach (var t in s) t?.Dispose();
            return [g.DU, g.DDelta, g.DA, g.DB, g.DC, g.DD!, g.DZ!, g.DBias!, null!];
        }
    }
}
