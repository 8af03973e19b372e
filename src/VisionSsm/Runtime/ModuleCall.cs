using System.Reflection;
using TorchSharp;
using static TorchSharp.torch;

namespace VisionSsm.Runtime;

/// <summary>
/// <c>module.call(input)</c> with another computation in place of the module's <c>forward</c>: the module's hooks run
/// as <c>call</c> runs them (TorchSharp 0.107's <c>Module&lt;T, TResult&gt;.call</c>: module pre-hooks, pre-hooks that
/// may replace the input, the forward, hooks that may replace the output, module post-hooks), so observers that hook
/// a module (Analysis/FlopCounter) see it whichever computation ran. For sealed TorchSharp modules (<c>Conv2d</c>)
/// whose forward must be replaced (Ops/OneDnnPointwiseGuard). TorchSharp keeps the hook tables in protected fields of
/// <c>HookableModule</c>; they are read by reflection, and their absence (another TorchSharp) is an error at first use.
/// </summary>
public static class ModuleCall
{
    static readonly Type Hookable = typeof(nn.Module<Tensor, Tensor>).BaseType!;
    static readonly FieldInfo ModulePreHooks = Field("module_pre_hooks");
    static readonly FieldInfo PreHooks = Field("pre_hooks");
    static readonly FieldInfo PostHooks = Field("post_hooks");
    static readonly FieldInfo ModulePostHooks = Field("module_post_hooks");

    static FieldInfo Field(string name) =>
        Hookable.GetField(name, BindingFlags.Instance | BindingFlags.NonPublic)
        ?? throw new InvalidOperationException($"TorchSharp's {Hookable.Name} has no field '{name}': ModuleCall follows TorchSharp 0.107's hook tables.");

    /// <summary>Runs <paramref name="module"/>'s hooks around <paramref name="forward"/>(input) instead of its own forward.</summary>
    public static Tensor WithForward(nn.Module<Tensor, Tensor> module, Tensor input, Func<Tensor, Tensor> forward)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(forward);
        foreach (var hook in Hooks<Action<nn.Module>>(ModulePreHooks, module)) hook(module);
        foreach (var hook in Hooks<Func<nn.Module<Tensor, Tensor>, Tensor, Tensor>>(PreHooks, module))
            input = hook(module, input) ?? input;
        var result = forward(input);
        foreach (var hook in Hooks<Func<nn.Module<Tensor, Tensor>, Tensor, Tensor, Tensor>>(PostHooks, module))
            result = hook(module, input, result) ?? result;
        foreach (var hook in Hooks<Action<nn.Module>>(ModulePostHooks, module)) hook(module);
        return result;
    }

    // A copy of the values: a hook may remove itself while the list is walked.
    static List<T> Hooks<T>(FieldInfo field, nn.Module module) =>
        field.GetValue(module) is Dictionary<string, T> table ? table.Values.ToList()
            : throw new InvalidOperationException($"TorchSharp's {Hookable.Name}.{field.Name} is not a Dictionary<string, {typeof(T).Name}>.");
}
