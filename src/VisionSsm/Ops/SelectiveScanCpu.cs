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
/// with the hand-written backward of reference-spec §1.3. Memory stays linear in L: with gradients only the
/// chunk-end states are kept (and recomputed within chunks in the backward, as the CUDA kernel does); under
/// no_grad (or when no input requires grad) nothing is kept.
/// </summary>
public static class SelectiveScanCpu
{
    /// <summary>Test hook: the degree of parallelism for calls made on this thread (null = <see cref="TorchRuntime.KernelParallelism"/>).</summary>
    [ThreadStatic] internal static ParallelOptions? ParallelismOverride;

    /// <summary>Outputs at least this large are written with non-temporal stores.</summary>
    internal static long StreamingBytes = 16L << 20;

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
            var (y, last, _) = Forward(Contiguous(a), saveStates: false);
            return (y.MoveToOuterDisposeScope(), last.MoveToOuterDisposeScope());
        }
        var outs = ScanFunction.apply(a.U, a.Delta, a.A, a.B, a.C, a.D!, a.Z!, a.DeltaBias!, a.DeltaSoftplus);
        // The state is returned without gradient (reference-spec §1.1); detaching here rather than using
        // mark_non_differentiable avoids a TorchSharp 0.107 WrapOutputs quirk (ecosystem.md §3).
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

    /// <summary>Runs the forward; <paramref name="saveStates"/> keeps the chunk-end states for the backward.</summary>
    internal static (Tensor y, Tensor last, Tensor? saved) Forward(ScanArguments a, bool saveStates) =>
        a.U.dtype == ScalarType.Float32 ? Forward<float>(a, saveStates) : Forward<double>(a, saveStates);

    internal static Grads Backward(ScanArguments a, Tensor? saved, Tensor gradY) =>
        a.U.dtype == ScalarType.Float32 ? Backward<float>(a, saved, gradY) : Backward<double>(a, saved, gradY);

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
            Run(plan.Units, k.ScratchVectors * sizeof(Vector256<T>), 0,
                (unit, scratch, _) => k.ForwardUnit(unit, (Vector256<T>*)scratch), null);
        }
        finally { k.Free(); }
        return (y, last, saved);
    }

    static unsafe Grads Backward<T>(ScanArguments a, Tensor? saved, Tensor gradY) where T : unmanaged
    {
        using var scope = NewDisposeScope();
        var plan = new ScanPlan(a, Vector256<T>.Count);
        var du = empty_like(a.U);
        var ddelta = empty_like(a.U);
        var dz = a.Z is null ? null : empty_like(a.Z);
        var dAPart = empty(a.Batch, a.Channels, a.States, dtype: a.U.dtype);
        var dDPart = empty(a.Batch, a.Channels, dtype: a.U.dtype);
        var dBiasPart = empty(a.Batch, a.Channels, dtype: a.U.dtype);
        var dB = zeros(a.Batch, a.GroupsB, a.States, a.Length, dtype: a.U.dtype);
        var dC = zeros(a.Batch, a.GroupsC, a.States, a.Length, dtype: a.U.dtype);
        var g = Dense(gradY);
        var k = NewKernel<T>(a, plan);
        try
        {
            k.Saved = saved is null ? null : Ptr<T>(saved);
            k.G = Ptr<T>(g);
            k.DU = Ptr<T>(du);
            k.DDelta = Ptr<T>(ddelta);
            k.DZ = dz is null ? null : Ptr<T>(dz);
            k.DAPart = Ptr<T>(dAPart);
            k.DDPart = Ptr<T>(dDPart);
            k.DBiasPart = Ptr<T>(dBiasPart);
            T* dBp = Ptr<T>(dB), dCp = Ptr<T>(dC);
            long nb = k.DBLength, nc = k.DCLength;
            // Every thread sums dB, dC (reduced over the channels of a group) into its own buffers, added at the end.
            Run(plan.Units, k.ScratchVectors * sizeof(Vector256<T>), (nb + nc) * sizeof(T),
                (unit, scratch, acc) => k.BackwardUnit(unit, (Vector256<T>*)scratch,
                    acc == null ? dBp : (T*)acc, acc == null ? dCp : (T*)acc + nb),
                acc =>
                {
                    AddInto(dBp, (T*)acc, nb);
                    AddInto(dCp, (T*)acc + nb, nc);
                });
        }
        finally { k.Free(); }

        var grads = new Grads(du, ddelta, dAPart.sum(0L), a.B.dim() == 3 ? dB.view(a.B.shape) : dB,
            a.C.dim() == 3 ? dC.view(a.C.shape) : dC, a.D is null ? null : dDPart.sum(0L), dz,
            a.DeltaBias is null ? null : dBiasPart.sum(0L));
        foreach (var t in new[] { grads.DU, grads.DDelta, grads.DA, grads.DB, grads.DC, grads.DD, grads.DZ, grads.DBias })
            t?.MoveToOuterDisposeScope();
        return grads;
    }

    static unsafe ScanKernel<T> NewKernel<T>(ScanArguments a, ScanPlan plan) where T : unmanaged =>
        new(plan, Ptr<T>(a.A), a.D is null ? null : Ptr<T>(a.D), a.DeltaBias is null ? null : Ptr<T>(a.DeltaBias))
        {
            U = Ptr<T>(a.U), Delta = Ptr<T>(a.Delta), Z = a.Z is null ? null : Ptr<T>(a.Z), B = Ptr<T>(a.B), C = Ptr<T>(a.C),
        };

    static unsafe T* Ptr<T>(Tensor t) where T : unmanaged => (T*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));

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
        Parallel.For(0, units, options,
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
            (u, _, local) =>
            {
                body(u, (void*)local.scratch, (void*)local.acc);
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
            var (y, last, saved) = Forward(a, saveStates: true);
            ctx.save_for_backward([a.U, a.Delta, a.A, a.B, a.C, a.D!, a.Z!, a.DeltaBias!, saved!]);
            ctx.save_data("softplus", a.DeltaSoftplus);
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
            var g = Backward(a, s[8], gy is null || gy.IsInvalid ? zeros_like(a.U) : gy);
            foreach (var t in s) t?.Dispose();
            return [g.DU, g.DDelta, g.DA, g.DB, g.DC, g.DD!, g.DZ!, g.DBias!, null!];
        }
    }
}
