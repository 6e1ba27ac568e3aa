using System.Runtime.InteropServices;

namespace Rlabs.Pipelines.Local;

/// <summary>Hard links on Linux, macOS and Windows, with a copy where the file system cannot link (another device, FAT).</summary>
internal static class HardLink
{
    /// <summary>Makes <paramref name="destination"/> name the bytes of <paramref name="source"/>: a hard link, else a copy. True when linked.</summary>
    public static bool LinkOrCopy(string source, string destination)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
        if (File.Exists(destination))
        {
            File.Delete(destination);
        }
        if (TryLink(source, destination))
        {
            return true;
        }
        File.Copy(source, destination);
        return false;
    }

    private static bool TryLink(string source, string destination)
    {
        try
        {
            return OperatingSystem.IsWindows() ? CreateHardLink(destination, source, IntPtr.Zero) : Link(Utf8(source), Utf8(destination)) == 0;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "link", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Link(byte[] existing, byte[] newPath);

    private static byte[] Utf8(string path) => System.Text.Encoding.UTF8.GetBytes(path + "\0");

    [DllImport("kernel32.dll", EntryPoint = "CreateHardLinkW", SetLastError = true, CharSet = CharSet.Unicode)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.System32)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static extern bool CreateHardLink(string newPath, string existing, IntPtr securityAttributes);
}
