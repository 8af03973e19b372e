using TorchSharp;
using TorchSharp.Modules;
using VisionSsm.Runtime;
using static TorchSharp.torch;

namespace VisionSsm.Training;

/// <summary>
/// TorchSharp's <see cref="AdamW"/> whose step passes only Scalars it owns to native code. TorchSharp's step passes
/// C# doubles (<c>mul_(1 − lr·wd)</c>, <c>add_(grad, 1 − β1)</c>, <c>addcmul_(…, 1 − β2)</c>, <c>/ √(1 − β2ᵗ)</c>,
/// <c>add_(ε)</c>, <c>addcdiv_(…, −lr/(1 − β1ᵗ))</c>), each a temporary Scalar that a collection on another thread can
/// free mid-call (docs/reliability.md). Same ops in the same order, so the same numbers; the state is AdamW's own
/// <see cref="AdamW.State"/>, so checkpoints are interchangeable (<see cref="OptimizerState"/>).
/// </summary>
public class OwnedScalarAdamW : AdamW
{
    public OwnedScalarAdamW(IEnumerable<ParamGroup> groups, double lr, double beta1, double beta2, double eps, double weightDecay)
        : base(groups, lr, beta1, beta2, eps, weightDecay) { }

    public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(Update, closure);

    void Update(ParamGroup group)
    {
        var o = group.Options;
        double beta1 = o.beta1!.Value, beta2 = o.beta2!.Value, lr = o.LearningRate!.Value;
        bool amsgrad = o.amsgrad!.Value, maximize = o.maximize!.Value;
        using var decay = (1.0 - lr * o.weight_decay!.Value).ToScalar();
        using var b1 = beta1.ToScalar();
        using var oneMinusB1 = (1.0 - beta1).ToScalar();
        using var b2 = beta2.ToScalar();
        using var oneMinusB2 = (1.0 - beta2).ToScalar();
        using var eps = o.eps!.Value.ToScalar();
        foreach (var p in group.Parameters)
        {
            var state = (State)_state[p.Handle];
            var grad = p.grad;
            if (grad is null) continue;
            if (maximize) grad = grad.neg();
            state.step++;
            p.mul_(decay);
            double bias1 = 1.0 - Math.Pow(beta1, state.step);
            double bias2 = 1.0 - Math.Pow(beta2, state.step);
            state.exp_avg.mul_(b1).add_(grad, oneMinusB1);
            state.exp_avg_sq.mul_(b2).addcmul_(grad, grad, oneMinusB2);
            if (amsgrad)
            {
                var old = state.max_exp_avg_sq;
                state.max_exp_avg_sq = maximum(old, state.exp_avg_sq).DetachFromDisposeScope();
                old.Dispose();
            }
            using var sqrtBias2 = Math.Sqrt(bias2).ToScalar();
            var denom = (amsgrad ? state.max_exp_avg_sq : state.exp_avg_sq).sqrt().div(sqrtBias2).add_(eps, Scalars.One);
            using var stepSize = (-(lr / bias1)).ToScalar();
            p.addcdiv_(state.exp_avg, denom, stepSize);
        }
    }
}
