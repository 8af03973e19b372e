using System.Buffers.Binary;
using System.Text;

namespace VisionSsm.Interop;

/// <summary>A Python global named by a pickle (module + name), e.g. <c>collections.OrderedDict</c>.</summary>
public sealed record PickleGlobal(string Module, string Name)
{
    public string FullName => Module + "." + Name;
}

/// <summary>
/// An inert placeholder for an object of a class the reader does not model (a yacs CfgNode, an argparse.Namespace, a
/// numpy scalar, …): the global that would have been called, its arguments, the BUILD state, and the items a
/// dict or list subclass received. Nothing is imported or run.
/// </summary>
public sealed record PickleObject(PickleGlobal Type, object?[] Args)
{
    public object? State { get; set; }
    /// <summary>SETITEM(S) on the object (dict subclasses such as yacs CfgNode).</summary>
    public Dictionary<object, object?> Items { get; } = [];
    /// <summary>APPEND(S) on the object (list subclasses).</summary>
    public List<object?> ListItems { get; } = [];
}

/// <summary>
/// A minimal, safe pickle interpreter (protocols 0–5) for PyTorch checkpoints: it never imports or runs code.
/// Values become .NET objects: None → null, bool, long, double, string, byte[], tuple → object?[], list, set and
/// frozenset → List&lt;object?&gt;, dict → Dictionary&lt;object, object?&gt;. Globals are resolved by
/// <paramref name="resolveCall"/> (REDUCE/NEWOBJ) and persistent ids by <paramref name="persistentLoad"/>; a call of
/// anything that is not a global (an object returned by an earlier call) and an instance built with INST/OBJ become
/// inert <see cref="PickleObject"/>s, so training files that also pickle config objects load.
/// </summary>
/// <remarks>
/// Malformed input (truncation, stack underflow, a missing memo entry, a declared length beyond the data, a value of
/// the wrong type) throws <see cref="InvalidDataException"/> naming the opcode's byte offset. Lengths are checked
/// against the bytes left before anything is allocated; an unseekable stream is first copied to memory so they can be.
/// </remarks>
public sealed class PickleReader
{
    readonly Stream stream;
    readonly BinaryReader reader;
    readonly Func<PickleGlobal, object?[], object?> resolveCall;
    readonly Func<object?, object?> persistentLoad;

    public PickleReader(Stream stream, Func<PickleGlobal, object?[], object?> resolveCall, Func<object?, object?> persistentLoad)
    {
        if (!stream.CanSeek)
        {
            var copy = new MemoryStream();
            stream.CopyTo(copy);
            copy.Position = 0;
            stream = copy;
        }
        this.stream = stream;
        reader = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
        this.resolveCall = resolveCall;
        this.persistentLoad = persistentLoad;
    }

    readonly List<object?> stack = [];
    readonly Stack<int> marks = new();
    readonly Dictionary<long, object?> memo = [];

    static readonly object Mark = new();

    /// <summary>
    /// Deepest container nesting accepted. Python's pickler recurses, so real pickles nest at most about its recursion
    /// limit (1000); far deeper structures only come from crafted files, and make .NET's GC mark phase crawl.
    /// </summary>
    public const int MaxDepth = 10_000;

    /// <summary>Nesting depth of containers that hold containers (others are depth 0).</summary>
    readonly Dictionary<object, int> depths = new(ReferenceEqualityComparer.Instance);

    /// <summary>Records that <paramref name="container"/> holds <paramref name="items"/>; throws beyond <see cref="MaxDepth"/>.</summary>
    T Nest<T>(T container, object?[] items) where T : notnull
    {
        int d = depths.TryGetValue(container, out int cd) ? cd : 0, before = d;
        foreach (var item in items)
            if (item is List<object?> or Dictionary<object, object?> or object?[] or PickleObject)
                d = Math.Max(d, (depths.TryGetValue(item, out int id) ? id : 0) + 1);
        if (d > MaxDepth) throw new InvalidDataException($"containers nested deeper than {MaxDepth}");
        if (d != before) depths[container] = d;
        return container;
    }

    public object? Load()
    {
        long at = stream.Position;
        try { return Run(ref at); }
        catch (EndOfStreamException) { throw new InvalidDataException($"pickle data ends early (opcode at byte {at})"); }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException or InvalidCastException
                                      or KeyNotFoundException or InvalidOperationException)
        {
            throw new InvalidDataException($"malformed pickle at byte {at}: {e.Message}", e);
        }
        catch (InvalidDataException e) when (!e.Message.Contains(" at byte ", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{e.Message} (pickle opcode at byte {at})", e);
        }
    }

    object? Run(ref long at)
    {
        while (true)
        {
            at = stream.Position;
            byte op = reader.ReadByte();
            switch (op)
            {
                case 0x80: reader.ReadByte(); break;                                   // PROTO
                case 0x95: reader.ReadInt64(); break;                                  // FRAME
                case (byte)'.': return Pop();                                          // STOP
                case (byte)'(': marks.Push(stack.Count); break;                        // MARK
                case (byte)'}': Push(new Dictionary<object, object?>()); break;         // EMPTY_DICT
                case (byte)']': Push(new List<object?>()); break;                      // EMPTY_LIST
                case (byte)')': Push(Array.Empty<object?>()); break;                   // EMPTY_TUPLE
                case 0x8f: Push(new List<object?>()); break;                           // EMPTY_SET (as list)
                case (byte)'N': Push(null); break;
                case 0x88: Push(true); break;
                case 0x89: Push(false); break;
                case (byte)'J': Push((long)reader.ReadInt32()); break;                  // BININT
                case (byte)'K': Push((long)reader.ReadByte()); break;                   // BININT1
                case (byte)'M': Push((long)reader.ReadUInt16()); break;                 // BININT2
                case 0x8a: Push(ReadLong(reader.ReadByte())); break;                    // LONG1
                case 0x8b: Push(ReadLong(reader.ReadInt32())); break;                   // LONG4
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Bytes(8))); break; // BINFLOAT
                case (byte)'X': Push(Utf8(reader.ReadInt32())); break;                  // BINUNICODE
                case 0x8c: Push(Utf8(reader.ReadByte())); break;                        // SHORT_BINUNICODE
                case 0x8d: Push(Utf8(reader.ReadInt64())); break;         // BINUNICODE8
                case (byte)'U': Push(Encoding.Latin1.GetString(Bytes(reader.ReadByte()))); break; // SHORT_BINSTRING
                case (byte)'T': Push(Encoding.Latin1.GetString(Bytes(reader.ReadInt32()))); break; // BINSTRING
                case (byte)'C': Push(Bytes(reader.ReadByte())); break;       // SHORT_BINBYTES
                case (byte)'B': Push(Bytes(reader.ReadInt32())); break;      // BINBYTES
                case 0x8e: Push(Bytes(reader.ReadInt64())); break; // BINBYTES8
                case (byte)'q': memo[reader.ReadByte()] = Peek(); break;                // BINPUT
                case (byte)'r': memo[reader.ReadUInt32()] = Peek(); break;              // LONG_BINPUT
                case 0x94: memo[memo.Count] = Peek(); break;                            // MEMOIZE
                case (byte)'h': Push(Memo(reader.ReadByte())); break;                   // BINGET
                case (byte)'j': Push(Memo(reader.ReadUInt32())); break;                 // LONG_BINGET
                case (byte)'0': Pop(); break;                                           // POP
                case (byte)'1': PopMark(); break;                                       // POP_MARK
                case (byte)'2': Push(Peek()); break;                                    // DUP
                case (byte)'t': { var t = PopMark(); Push(Nest(t, t)); break; }                               // TUPLE
                case 0x85: { var t = new[] { Pop() }; Push(Nest(t, t)); break; }                              // TUPLE1
                case 0x86: { var b = Pop(); var a = Pop(); var t = new[] { a, b }; Push(Nest(t, t)); break; } // TUPLE2
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); var t = new[] { a, b, c }; Push(Nest(t, t)); break; } // TUPLE3
                case (byte)'l': { var t = PopMark(); Push(Nest(t.ToList(), t)); break; }                        // LIST
                case (byte)'d': { var t = PopMark(); Push(Nest(ToDict(t), t)); break; }                         // DICT
                case (byte)'a': { var v = Pop(); Append(Peek(), [v]); break; }         // APPEND
                case (byte)'e': { var items = PopMark(); Append(Peek(), items); break; } // APPENDS
                case 0x90: { var items = PopMark(); Append(Peek(), items); break; }    // ADDITEMS
                case 0x91: { var t = PopMark(); Push(Nest(t.ToList(), t)); break; }                             // FROZENSET (as list)
                case (byte)'s': { var v = Pop(); var k = Pop(); SetItem(Peek(), k, v); break; } // SETITEM
                case (byte)'u':                                                         // SETITEMS
                {
                    var items = PopMark();
                    if (items.Length % 2 != 0) throw new InvalidDataException($"SETITEMS with an odd number ({items.Length}) of items");
                    for (int i = 0; i < items.Length; i += 2) SetItem(Peek(), items[i], items[i + 1]);
                    break;
                }
                case (byte)'c': Push(new PickleGlobal(Line(), Line())); break;          // GLOBAL
                case 0x93: { var name = Pop() as string ?? throw new InvalidDataException("STACK_GLOBAL name is not a string"); var module = Pop() as string ?? throw new InvalidDataException("STACK_GLOBAL module is not a string"); Push(new PickleGlobal(module, name)); break; } // STACK_GLOBAL
                case (byte)'R':                                                         // REDUCE
                case 0x81:                                                              // NEWOBJ
                {
                    var args = Pop();
                    Push(Call(Pop(), args));
                    break;
                }
                case 0x92: { Pop(); var args = Pop(); Push(Call(Pop(), args)); break; } // NEWOBJ_EX (kwargs dropped)
                case (byte)'i': { var g = new PickleGlobal(Line(), Line()); Push(Call(g, PopMark())); break; } // INST
                case (byte)'o': { var items = PopMark(); Push(Call(items.Length > 0 ? items[0] : null, items.Skip(1).ToArray())); break; } // OBJ
                case (byte)'b':                                                         // BUILD
                {
                    var state = Pop();
                    if (Peek() is PickleObject o) { o.State = state; Nest(o, [state]); }
                    break;
                }
                case (byte)'Q': Push(persistentLoad(Pop())); break;                     // BINPERSID
                case (byte)'P': Push(persistentLoad(Line())); break;                    // PERSID
                case (byte)'I': Push(ParseInt(Line())); break;                          // INT (protocol 0; "01"/"00" are bools)
                case (byte)'L': Push(long.Parse(Line().TrimEnd('L'), System.Globalization.CultureInfo.InvariantCulture)); break; // LONG
                case (byte)'F': Push(double.Parse(Line(), System.Globalization.CultureInfo.InvariantCulture)); break; // FLOAT
                case (byte)'S': Push(Line().Trim('\'', '"')); break;                   // STRING (escapes left as written)
                case (byte)'V': Push(System.Text.RegularExpressions.Regex.Unescape(Line())); break; // UNICODE (raw-unicode-escape)
                case (byte)'p': memo[long.Parse(Line(), System.Globalization.CultureInfo.InvariantCulture)] = Peek(); break; // PUT
                case (byte)'g': Push(Memo(long.Parse(Line(), System.Globalization.CultureInfo.InvariantCulture))); break; // GET
                case 0x96: Push(Bytes(reader.ReadInt64())); break; // BYTEARRAY8
                case 0x82: Push(new PickleGlobal("copyreg.extension", reader.ReadByte().ToString())); break;    // EXT1
                case 0x83: Push(new PickleGlobal("copyreg.extension", reader.ReadUInt16().ToString())); break;  // EXT2
                case 0x84: Push(new PickleGlobal("copyreg.extension", reader.ReadInt32().ToString())); break;   // EXT4
                default:
                    throw new InvalidDataException($"unsupported pickle opcode 0x{op:x2} at byte {stream.Position - 1}");
            }
        }
    }

    /// <summary>REDUCE/NEWOBJ: a global goes to the resolver; any other callable gives an inert placeholder.</summary>
    object? Call(object? callable, object? args)
    {
        var argArray = args as object?[] ?? [args];
        var result = callable is PickleGlobal g ? resolveCall(g, argArray) : new PickleObject(new PickleGlobal("<object>", callable?.GetType().Name ?? "None"), argArray);
        return result is null ? null : Nest(result, argArray);
    }

    static object ParseInt(string text) => text switch
    {
        "01" => true,
        "00" => false,
        _ => long.Parse(text, System.Globalization.CultureInfo.InvariantCulture),
    };

    void Append(object? target, object?[] items)
    {
        if (target is not null) Nest(target, items);
        switch (target)
        {
            case List<object?> l: l.AddRange(items); break;
            case PickleObject o: o.ListItems.AddRange(items); break;
            default: throw new InvalidDataException($"APPEND on a {target?.GetType().Name ?? "None"}");
        }
    }

    void Push(object? v) => stack.Add(v);
    object? Peek() => stack.Count > marks.PeekOrDefault() ? stack[^1] : throw Underflow();
    object? Pop()
    {
        var v = Peek();
        stack.RemoveAt(stack.Count - 1);
        return v;
    }
    static InvalidDataException Underflow() => new("pickle stack underflow");
    object?[] PopMark()
    {
        if (marks.Count == 0) throw new InvalidDataException("no MARK on the stack");
        int start = marks.Pop();
        if (start > stack.Count) throw Underflow();
        var items = stack.GetRange(start, stack.Count - start).ToArray();
        stack.RemoveRange(start, stack.Count - start);
        return items;
    }
    string Utf8(long length) => Encoding.UTF8.GetString(Bytes(length));
    string Line()
    {
        var sb = new StringBuilder();
        // Bounded by the data: ReadByte throws at the end of the stream.
        for (byte b; (b = reader.ReadByte()) != (byte)'\n';) sb.Append((char)b);
        return sb.ToString();
    }
    static object ReadLongBytes(byte[] bytes)
    {
        if (bytes.Length == 0) return 0L;
        var v = new System.Numerics.BigInteger(bytes, isUnsigned: false, isBigEndian: false);
        return v >= long.MinValue && v <= long.MaxValue ? (long)v
            : throw new InvalidDataException($"integer of {bytes.Length} bytes does not fit in 64 bits");
    }

    /// <summary>Exactly <paramref name="length"/> bytes, checked against what is left before allocating.</summary>
    byte[] Bytes(long length)
    {
        long left = stream.Length - stream.Position;
        if (length < 0 || length > left)
            throw new InvalidDataException($"declared length {length} but {left} bytes are left");
        return reader.ReadBytes((int)length);
    }

    object? Memo(long key) =>
        memo.TryGetValue(key, out var v) ? v : throw new InvalidDataException($"memo entry {key} was never stored");
    object ReadLong(int length) => ReadLongBytes(Bytes(length));
    static Dictionary<object, object?> ToDict(object?[] items)
    {
        var d = new Dictionary<object, object?>();
        if (items.Length % 2 != 0) throw new InvalidDataException($"DICT with an odd number ({items.Length}) of items");
        for (int i = 0; i < items.Length; i += 2) d[items[i] ?? throw new InvalidDataException("dict key None")] = items[i + 1];
        return d;
    }
    void SetItem(object? target, object? key, object? value)
    {
        if (target is not null) Nest(target, [key, value]);
        switch (target)
        {
            case Dictionary<object, object?> d: d[key ?? throw new InvalidDataException("dict key None")] = value; break;
            case PickleObject o: o.Items[key ?? throw new InvalidDataException("dict key None")] = value; break;
            default: throw new InvalidDataException($"SETITEM on a {target?.GetType().Name ?? "None"}");
        }
    }
}

static class MarkStackExtensions
{
    /// <summary>The innermost MARK's stack position (0 without one): values below it cannot be popped except by POP_MARK.</summary>
    public static int PeekOrDefault(this Stack<int> marks) => marks.Count > 0 ? marks.Peek() : 0;
}
