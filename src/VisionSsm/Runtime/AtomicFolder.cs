using System.Text.Json;
using System.Text.Json.Nodes;

namespace VisionSsm.Runtime;

/// <summary>
/// A generated folder (composed data sets) that exists complete or not at all: it is filled under a temporary sibling
/// name and renamed into place. Its manifest records the settings it was made with, so writing again with the same
/// settings leaves it alone and a non-empty folder made otherwise is refused rather than mixed.
/// </summary>
public static class AtomicFolder
{
    /// <summary>
    /// Fills <paramref name="directory"/> through <paramref name="fill"/> (given the temporary folder; it must write
    /// <paramref name="manifestName"/> holding every key of <paramref name="settingsJson"/>). Returns false when the
    /// folder already holds a manifest with these settings; throws when it is non-empty and holds anything else.
    /// </summary>
    public static bool WriteOnce(string directory, string manifestName, string settingsJson, Action<string> fill, Action<string>? log = null)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));   // "out/" names the folder out
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
        {
            string manifest = Path.Combine(full, manifestName);
            if (File.Exists(manifest) && SameSettings(manifest, settingsJson)) { log?.Invoke($"{full} already holds these data"); return false; }
            throw new IOException($"{full} is not empty and holds no data made with these settings; choose a new folder or delete it.");
        }
        string parent = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(parent);
        string temp = Path.Combine(parent, $".tmp-{Guid.NewGuid():N}-{Path.GetFileName(full)}");
        try
        {
            Directory.CreateDirectory(temp);
            fill(temp);
            if (Directory.Exists(full)) Directory.Delete(full); // empty (checked above)
            Directory.Move(temp, full);
            return true;
        }
        finally
        {
            try { if (Directory.Exists(temp)) Directory.Delete(temp, true); } catch (IOException) { }
        }
    }

    static bool SameSettings(string manifestPath, string settings)
    {
        try
        {
            var m = JsonNode.Parse(File.ReadAllText(manifestPath))!.AsObject();
            var s = JsonNode.Parse(settings)!.AsObject();
            return s.All(kv => m.TryGetPropertyValue(kv.Key, out var v) && JsonNode.DeepEquals(v, kv.Value));
        }
        catch (JsonException) { return false; }
    }
}
