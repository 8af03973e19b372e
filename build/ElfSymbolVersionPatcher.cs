// Makes TorchSharp 0.107's libLibTorchSharp.so loadable where libstdc++ predates GCC 13.
//
// The shim was linked with GCC 13 and so names GLIBCXX_3.4.32 in its version-needed table, but the only symbol
// bound to that version is `_ZSt21ios_base_library_initv`, an <iostream> init marker no relocation uses. Marking
// that Vernaux entry weak (VER_FLG_WEAK) and rebinding the marker to the global version lets the dynamic loader
// accept the file on Debian 12 (GLIBCXX_3.4.30). See README.md, "TorchSharp on Debian 12".
//
// This one file serves two callers: the MSBuild inline task in TorchSharpNativeFix.targets (which compiles it
// against a netstandard-like reference set, hence no BinaryPrimitives or Span) and the library (Runtime/).
#nullable enable
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace VisionSsm.Runtime
{
    /// <summary>Edits the GNU symbol-version tables of an ELF64 little-endian shared object.</summary>
    public static class ElfSymbolVersionPatcher
    {
        public const string ShimVersion = "GLIBCXX_3.4.32";
        public static readonly string[] ShimAllowedSymbols = { "_ZSt21ios_base_library_initv" };

        const uint ShtDynsym = 11, ShtGnuVerneed = 0x6ffffffe, ShtGnuVersym = 0x6fffffff;
        const ushort VerFlagWeak = 0x2, VerNdxGlobal = 1;

        /// <summary>Outcome of <see cref="Patch"/>: the number of bytes changed (0 when already patched).</summary>
        public sealed class Result
        {
            public int BytesChanged;
            public string Message = "";
        }

        /// <summary>True when some libstdc++.so.6 on the standard library paths defines <paramref name="version"/>.</summary>
        public static bool SystemLibStdCxxHas(string version)
        {
            string[] candidates =
            {
                "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
                "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
            };
            byte[] needle = Encoding.ASCII.GetBytes(version + "\0");
            foreach (string path in candidates)
            {
                if (!File.Exists(path)) continue;
                if (IndexOf(File.ReadAllBytes(path), needle) >= 0) return true;
                return false; // the first libstdc++ found is the one the loader uses
            }
            return false;
        }

        /// <summary>
        /// Weakens <paramref name="version"/> in <paramref name="path"/> and rebinds its symbols to the global version.
        /// Idempotent; writes through a temporary file and a rename, keeping the original modification time (so
        /// MSBuild's incremental copy sees an unchanged file). Throws InvalidDataException when the file binds a
        /// symbol outside <paramref name="allowedSymbols"/> to that version: such a symbol really needs the newer
        /// libstdc++ and no byte edit can help.
        /// </summary>
        public static Result Patch(string path, string version, string[] allowedSymbols)
        {
            byte[] elf = File.ReadAllBytes(path);
            int changed = PatchInMemory(elf, version, allowedSymbols);
            var result = new Result { BytesChanged = changed };
            if (changed == 0)
            {
                result.Message = path + ": nothing to change (" + version + " already weak or not referenced)";
                return result;
            }
            DateTime mtime = File.GetLastWriteTimeUtc(path);
            string temp = path + ".patching-" + Guid.NewGuid().ToString("N");
            File.WriteAllBytes(temp, elf);
            File.SetLastWriteTimeUtc(temp, mtime);
            File.Replace(temp, path, null); // rename(2): atomic, and never writes through a hard link
            result.Message = path + ": weakened " + version + " (" + changed + " bytes)";
            return result;
        }

        /// <summary>Applies the edit to an in-memory ELF image; returns the number of bytes changed.</summary>
        public static int PatchInMemory(byte[] elf, string version, string[] allowedSymbols)
        {
            if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
                throw new InvalidDataException("not an ELF file");
            if (elf[4] != 2 || elf[5] != 1) throw new InvalidDataException("not a 64-bit little-endian ELF file");

            long shoff = (long)U64(elf, 0x28);
            int shentsize = U16(elf, 0x3A), shnum = U16(elf, 0x3C);
            var sections = new List<Section>();
            for (int i = 0; i < shnum; i++)
            {
                int h = checked((int)(shoff + (long)i * shentsize));
                sections.Add(new Section(U32(elf, h + 4), (int)U64(elf, h + 0x18), (int)U64(elf, h + 0x20),
                    (int)U32(elf, h + 0x28), (int)U32(elf, h + 0x2C)));
            }
            Section? dynsym = sections.Find(s => s.Type == ShtDynsym);
            Section? versym = sections.Find(s => s.Type == ShtGnuVersym);
            Section? verneed = sections.Find(s => s.Type == ShtGnuVerneed);
            if (dynsym == null || versym == null || verneed == null) return 0; // no versioning: nothing to do

            // Walk Verneed → Vernaux entries looking for the version by name (names live in verneed's linked strtab).
            int verStrtab = sections[verneed.Link].Offset;
            int vernauxFlagsOffset = -1, versionIndex = -1;
            int vn = verneed.Offset;
            for (int n = 0; n < verneed.Info; n++)
            {
                int cnt = U16(elf, vn + 2), aux = vn + (int)U32(elf, vn + 8);
                for (int a = 0; a < cnt; a++)
                {
                    if (CString(elf, verStrtab + (int)U32(elf, aux + 8)) == version)
                    {
                        vernauxFlagsOffset = aux + 4;
                        versionIndex = U16(elf, aux + 6) & 0x7fff;
                    }
                    aux += (int)U32(elf, aux + 12);
                }
                vn += (int)U32(elf, vn + 12);
            }
            if (versionIndex < 0) return 0;

            int changed = 0;
            int symStrtab = sections[dynsym.Link].Offset;
            int symbols = dynsym.Size / 24;
            for (int i = 0; i < symbols; i++)
            {
                int at = versym.Offset + 2 * i;
                if ((U16(elf, at) & 0x7fff) != versionIndex) continue;
                string name = CString(elf, symStrtab + (int)U32(elf, dynsym.Offset + 24 * i));
                if (Array.IndexOf(allowedSymbols, name) < 0)
                    throw new InvalidDataException("symbol '" + name + "' really needs " + version +
                        "; a newer libstdc++ (GCC 13 or later) is required");
                changed += Set16(elf, at, VerNdxGlobal);
            }
            changed += Set16(elf, vernauxFlagsOffset, (ushort)(U16(elf, vernauxFlagsOffset) | VerFlagWeak));
            return changed;
        }

        sealed class Section
        {
            public readonly uint Type; public readonly int Offset, Size, Link, Info;
            public Section(uint type, int offset, int size, int link, int info)
            { Type = type; Offset = offset; Size = size; Link = link; Info = info; }
        }

        static int Set16(byte[] b, int at, ushort value)
        {
            int changed = 0;
            byte lo = (byte)value, hi = (byte)(value >> 8);
            if (b[at] != lo) { b[at] = lo; changed++; }
            if (b[at + 1] != hi) { b[at + 1] = hi; changed++; }
            return changed;
        }
        static ushort U16(byte[] b, int at) => (ushort)(b[at] | b[at + 1] << 8);
        static uint U32(byte[] b, int at) => (uint)(b[at] | b[at + 1] << 8 | b[at + 2] << 16 | b[at + 3] << 24);
        static ulong U64(byte[] b, int at) => U32(b, at) | (ulong)U32(b, at + 4) << 32;
        static string CString(byte[] b, int at)
        {
            int end = at;
            while (b[end] != 0) end++;
            return Encoding.ASCII.GetString(b, at, end - at);
        }
        static int IndexOf(byte[] haystack, byte[] needle)
        {
            for (int i = 0; i + needle.Length <= haystack.Length; i++)
            {
                int j = 0;
                while (j < needle.Length && haystack[i + j] == needle[j]) j++;
                if (j == needle.Length) return i;
            }
            return -1;
        }
    }

#if !VISIONSSM_LIBRARY
    /// <summary>MSBuild task: patches every libLibTorchSharp.so among <see cref="Files"/>.</summary>
    public class PatchTorchSharpShim : Microsoft.Build.Utilities.Task
    {
        [Microsoft.Build.Framework.Required]
        public Microsoft.Build.Framework.ITaskItem[] Files { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();

        public override bool Execute()
        {
            if (Files.Length == 0) return true;
            if (ElfSymbolVersionPatcher.SystemLibStdCxxHas(ElfSymbolVersionPatcher.ShimVersion))
            {
                Log.LogMessage("TorchSharp native fix: system libstdc++ has " + ElfSymbolVersionPatcher.ShimVersion + "; nothing patched.");
                return true;
            }
            foreach (var item in Files)
            {
                string path = item.GetMetadata("FullPath");
                try
                {
                    var r = ElfSymbolVersionPatcher.Patch(path, ElfSymbolVersionPatcher.ShimVersion, ElfSymbolVersionPatcher.ShimAllowedSymbols);
                    Log.LogMessage(r.BytesChanged > 0 ? Microsoft.Build.Framework.MessageImportance.High
                                                      : Microsoft.Build.Framework.MessageImportance.Low, "TorchSharp native fix: " + r.Message);
                }
                catch (Exception e)
                {
                    Log.LogError("TorchSharp native fix: could not patch '" + path + "': " + e.Message +
                        ". Fix: install libstdc++ from GCC 13 or later, or run 'patchelf --clear-symbol-version " +
                        "_ZSt21ios_base_library_initv' on that file; set SkipTorchSharpNativeFix=true to skip this step.");
                }
            }
            return !Log.HasLoggedErrors;
        }
    }
#endif
}
