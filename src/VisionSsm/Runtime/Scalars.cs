using TorchSharp;

namespace VisionSsm.Runtime;

/// <summary>
/// Scalars owned for the life of the process, for native calls that take a <see cref="Scalar"/>.
/// <para>In TorchSharp 0.107 a C# number passed where a Scalar is expected becomes a temporary Scalar whose native
/// memory its finalizer frees; methods such as <c>Tensor.add_(Scalar, Scalar)</c> pass only the handle to native code
/// without <c>GC.KeepAlive</c>, so a collection on another thread can free it mid-call (docs/reliability.md). A static
/// Scalar is always reachable. Several overloads also make a hidden temporary themselves, e.g.
/// <c>add(Tensor)</c>, <c>add_(Tensor)</c>, <c>add_(Scalar)</c> and the <c>+</c> operator pass a temporary alpha 1:
/// call the two-argument forms with <see cref="One"/> instead.</para>
/// <para>For a value that varies, own it for the call: <c>using var s = value.ToScalar();</c>.</para>
/// </summary>
public static class Scalars
{
    /// <summary>Integral 1: alpha of <c>add</c>/<c>add_</c>, the step of an int64 counter.</summary>
    public static readonly Scalar One = 1L.ToScalar();

    /// <summary>Integral 2: the exponent of a square (TorchSharp's <c>square()</c> is <c>pow(2)</c> with a temporary).</summary>
    public static readonly Scalar Two = 2L.ToScalar();

    /// <summary>0, e.g. for <c>masked_fill</c>.</summary>
    public static readonly Scalar Zero = 0L.ToScalar();

    /// <summary>−∞, e.g. for <c>masked_fill</c> before an exp.</summary>
    public static readonly Scalar NegativeInfinity = double.NegativeInfinity.ToScalar();

    /// <summary><paramref name="a"/> + <paramref name="b"/> with an owned alpha (TorchSharp's <c>+</c> passes a temporary one).</summary>
    public static torch.Tensor Plus(this torch.Tensor a, torch.Tensor b) => a.add(b, One);

    /// <summary>In-place <paramref name="a"/> += <paramref name="b"/> with an owned alpha.</summary>
    public static torch.Tensor PlusInPlace(this torch.Tensor a, torch.Tensor b) => a.add_(b, One);

    /// <summary><paramref name="t"/> · <paramref name="factor"/> (TorchSharp's <c>t * x</c> converts x to a temporary).</summary>
    public static torch.Tensor Times(this torch.Tensor t, double factor)
    {
        using var s = factor.ToScalar();
        return t.mul(s);
    }

    /// <summary><paramref name="t"/> / <paramref name="divisor"/> with an owned Scalar.</summary>
    public static torch.Tensor Over(this torch.Tensor t, double divisor)
    {
        using var s = divisor.ToScalar();
        return t.div(s);
    }

    /// <summary>In-place <paramref name="t"/> /= <paramref name="divisor"/> with an owned Scalar.</summary>
    public static torch.Tensor OverInPlace(this torch.Tensor t, double divisor)
    {
        using var s = divisor.ToScalar();
        return t.div_(s);
    }

    /// <summary><paramref name="t"/> + <paramref name="value"/> with owned Scalars (value and alpha).</summary>
    public static torch.Tensor PlusScalar(this torch.Tensor t, double value)
    {
        using var s = value.ToScalar();
        return t.add(s, One);
    }

    /// <summary>In-place <paramref name="t"/> += <paramref name="value"/> with owned Scalars (value and alpha).</summary>
    public static torch.Tensor PlusScalarInPlace(this torch.Tensor t, double value)
    {
        using var s = value.ToScalar();
        return t.add_(s, One);
    }
}
