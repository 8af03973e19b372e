using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Operations;

namespace VisionSsm.Bench;

/// <summary>
/// Lists the places in a source tree (default <c>src/VisionSsm</c>) where a temporary TorchSharp Scalar reaches native
/// code (docs/reliability.md): user-defined conversions to <c>Scalar</c>, TorchSharp operators with a number operand,
/// <c>Tensor + Tensor</c>, and calls to TorchSharp methods that make a temporary themselves (read from the 0.107 IL).
/// <c>scalar-sites [--src DIR]</c>; exits 1 when it finds any. Source generators do not run, so their compile errors
/// are ignored; the binding of tensor code does not depend on them.
/// </summary>
public static class ScalarSitesSuite
{
    public static void RegisterSuite() =>
        Suites.Register("scalar-sites", "static list of temporary TorchSharp Scalars passed to native code in a source tree", Run);

    /// <summary>TorchSharp 0.107 methods (name and parameter types) whose body converts a number to a Scalar.</summary>
    static readonly HashSet<string> MakeTemporaries =
    [
        "add(Tensor)", "add(Scalar)", "add_(Tensor)", "add_(Scalar)", "addcdiv(Tensor, Tensor)", "addcdiv_(Tensor, Tensor)",
        "square()", "softplus(Double, Double)", "softplus(Tensor, Double, Double)", "elu", "elu_", "celu", "celu_",
        "leaky_relu", "hardtanh", "threshold", "softshrink", "hardshrink", "normal",
        "arange(Scalar, Nullable, Device, Boolean)", "arange(Scalar, Scalar, Nullable, Device, Boolean)",
    ];

    static int Run(string[] args)
    {
        string root = Measure.StringOption(args, "--src", Path.Combine(FindRepoRoot(), "src", "VisionSsm"));
        var sites = Find(root);
        foreach (var s in sites) Console.WriteLine(s);
        Console.WriteLine($"{sites.Count} sites");
        return sites.Count == 0 ? 0 : 1;
    }

    static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(Environment.CurrentDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "VisionSsm.slnx"))) return d.FullName;
        throw new DirectoryNotFoundException("run from inside the repository or pass --src DIR");
    }

    public static List<string> Find(string root)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Preview);
        var files = Directory.GetFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"));
        var trees = files.Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), parse, f)).ToList();
        trees.Add(CSharpSyntaxTree.ParseText("global using System; global using System.Collections.Generic; global using System.IO; " +
            "global using System.Linq; global using System.Threading; global using System.Threading.Tasks;", parse));
        var refs = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Append(typeof(TorchSharp.torch).Assembly.Location).Distinct().Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create("scan", trees, refs,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true, nullableContextOptions: NullableContextOptions.Enable));
        var found = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var tree in trees.Where(t => t.FilePath.Length > 0))
        {
            var model = compilation.GetSemanticModel(tree);
            var seen = new HashSet<IOperation>();
            foreach (var node in tree.GetRoot().DescendantNodes().Where(n => n is Microsoft.CodeAnalysis.CSharp.Syntax.MemberDeclarationSyntax
                         or Microsoft.CodeAnalysis.CSharp.Syntax.AccessorDeclarationSyntax or Microsoft.CodeAnalysis.CSharp.Syntax.LocalFunctionStatementSyntax))
            {
                if (model.GetOperation(node) is not { } body) continue;
                foreach (var op in body.DescendantsAndSelf())
                {
                    if (!seen.Add(op) || Why(op) is not { } why) continue;
                    int line = tree.GetLineSpan(op.Syntax.Span).StartLinePosition.Line + 1;
                    string text = op.Syntax.ToString().ReplaceLineEndings(" ");
                    found.Add($"{Path.GetRelativePath(root, tree.FilePath)}:{line}\t{why}\t{text[..Math.Min(100, text.Length)]}");
                }
            }
        }
        return [.. found];
    }

    static string? Why(IOperation op)
    {
        if (op is IConversionOperation c && c.Conversion.IsUserDefined && IsScalar(c.Type)) return $"implicit Scalar from {c.Operand.Type}";
        if (op is IArgumentOperation a && a.InConversion.IsUserDefined && IsScalar(a.Parameter?.Type))
            return $"implicit Scalar from {a.Value.Type} ({a.Parameter!.Name})";
        var m = op switch
        {
            IInvocationOperation i => i.TargetMethod,
            IBinaryOperation b => b.OperatorMethod,
            ICompoundAssignmentOperation ca => ca.OperatorMethod,
            _ => null,
        };
        if (m is null || m.ContainingAssembly?.Name != "TorchSharp") return null;
        string sig = $"{m.Name}({string.Join(", ", m.Parameters.Select(p => p.Type.Name))})";
        if (m.Name == "op_Addition" && m.Parameters.All(p => p.Type.Name == "Tensor")) return "Tensor + Tensor (temporary alpha 1)";
        if (m.Name.StartsWith("op_", StringComparison.Ordinal) && m.Parameters.Any(p => p.Type.SpecialType is SpecialType.System_Int32
                or SpecialType.System_Int64 or SpecialType.System_Single or SpecialType.System_Double))
            return $"operator {sig} converts the number";
        return MakeTemporaries.Contains(sig) || MakeTemporaries.Contains(m.Name) ? $"{m.ContainingType.Name}.{sig} makes a temporary" : null;
    }

    static bool IsScalar(ITypeSymbol? t) => t is { Name: "Scalar", ContainingNamespace.Name: "TorchSharp" };
}
