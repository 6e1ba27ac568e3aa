using System.Collections.Concurrent;

namespace Rlabs.Pipelines.Packaging;

/// <summary>
/// Spares a PowerShell session the stat walk of a repository it walked before: a file system watcher on the
/// repository, started before a walk, keeps that walk's stamp while it sees nothing change. Before a kept stamp is
/// used, a marker file is written into the repository's work folder and the watcher must report it: the watcher
/// reports in order, so every change made before the marker has then been seen, including an edit made just before
/// the run. No report within a moment (the folder was replaced, the watcher fell behind), a watcher error or
/// overflow, a file system that may be changed by other computers, or a repository of many folders: the tree is
/// walked, as it would be without any of this. The first walk of a repository in a session counts its folders and
/// is not watched; the second starts the watcher; from the third on, an unchanged repository is not walked.
/// </summary>
/// <remarks>
/// Changes under <c>.rlabs</c> (the work folder) and <c>.git</c> (but its <c>info/exclude</c>) never matter to a
/// stamp, nor those under an excluded path of every kept stamp; any other change drops the kept stamps, even one git
/// ignores (the walk after it gives the same stamp). Only local file systems are watched: a network or shared
/// folder (NFS, SMB, 9p, FUSE) does not report changes made from another computer or from a virtual machine's host.
/// Not reported either, and so not seen until a change that is: a write through a memory map, a write through a hard
/// link outside the repository, a change on another file system mounted inside it. A file link's target outside the
/// repository is not watched; the zip leaves such links out, so what is packed does not depend on it.
/// </remarks>
internal static class SourceTreeWatch
{
    /// <summary>Repositories watched at once in one session; the least recently used is let go.</summary>
    internal const int MaxWatched = 8;

    /// <summary>Only a repository whose last walk listed at most this many folders is watched (a watch each).</summary>
    internal const int MaxDirectories = 4000;

    /// <summary>
    /// How long a marker's report is waited for before the tree is walked instead. The report comes through the thread
    /// pool: on a starved pool it may come late, and the walk is the safe answer (tests, whose many classes start at
    /// once, wait longer to count walks exactly).
    /// </summary>
    internal static TimeSpan MarkerTimeout { get; set; } = TimeSpan.FromMilliseconds(250);

    private static readonly object s_lock = new();
    private static readonly Dictionary<string, Watched> s_watched = new(PathComparer);
    private static readonly Dictionary<string, int> s_directories = new(PathComparer);
    private static readonly Dictionary<string, int> s_failures = new(PathComparer);
    private static readonly ConcurrentDictionary<string, int> s_walks = new(PathComparer);

    private static StringComparer PathComparer => OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;

    /// <summary>
    /// The stamp of <paramref name="root"/> for <paramref name="options"/> (the packing options it depends on): the
    /// kept one when the watcher vouches for it (unless <paramref name="fresh"/>), else <paramref name="walk"/>'s, kept
    /// when nothing changed during it.
    /// </summary>
    public static string Stamp(string root, string options, HashSet<string> excluded, bool fresh, Func<(string Stamp, int Directories)> walk)
    {
        Watched? watched;
        lock (s_lock)
        {
            s_watched.TryGetValue(root, out watched);
        }
        if (!fresh && watched is not null && watched.Has(options))
        {
            if (watched.Settle())
            {
                lock (s_lock)
                {
                    s_failures.Remove(root); // a late report earlier was the machine's load, not the watcher
                }
                if (watched.TryGet(options, out var kept))
                {
                    return kept;
                }
            }
            else
            {
                Drop(root, watched, failed: true);
                watched = null;
            }
        }

        // A watcher that saw a change is as good as a new one: it is running, and the walk below starts after it.
        watched = watched is { IsHealthy: true } ? watched : Start(root);
        var generation = watched?.Generation ?? 0;
        s_walks.AddOrUpdate(root, 1, (_, n) => n + 1);
        var (stamp, directories) = walk();
        lock (s_lock)
        {
            s_directories[root] = directories;
        }
        if (watched is not null)
        {
            if (directories > MaxDirectories)
            {
                Drop(root, watched, failed: false);
            }
            else
            {
                watched.Keep(options, excluded, stamp, generation);
            }
        }
        return stamp;
    }

    /// <summary>How many times <paramref name="root"/> was walked in this session (for tests).</summary>
    internal static int Walks(string root) => s_walks.TryGetValue(root, out var n) ? n : 0;

    /// <summary>Whether a repository on a file system of this type (DriveInfo.DriveFormat) can be watched.</summary>
    internal static bool IsLocalFileSystem(string? format) => format is not null && s_localFormats.Contains(format);

    // Disk and memory file systems whose every change is made through this kernel. Not: nfs, cifs/smb, 9p, fuse.*,
    // virtiofs, vboxsf, prl_fs (a VM host's folder), afs, ceph, gluster.
    private static readonly HashSet<string> s_localFormats = new(StringComparer.OrdinalIgnoreCase)
    {
        "ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "overlay", "overlayfs", "zfs", "f2fs", "bcachefs", "jfs", "reiserfs",
        "apfs", "hfs", "hfsplus", "NTFS", "ReFS",
    };

    private static Watched? Start(string root)
    {
        lock (s_lock)
        {
            // The first walk of a session counts the folders; a repository of many is not watched (a watch each).
            if (!s_directories.TryGetValue(root, out var directories) || directories > MaxDirectories || s_failures.GetValueOrDefault(root) >= 2)
            {
                return null;
            }
        }
        var marker = Path.Combine(root, ".rlabs", "source");
        try
        {
            var drive = new DriveInfo(root);
            if (!Directory.Exists(Path.Combine(root, ".rlabs")) || new DirectoryInfo(Path.Combine(root, ".rlabs")).LinkTarget is not null
                || drive.DriveType is not (DriveType.Fixed or DriveType.Ram) || !IsLocalFileSystem(drive.DriveFormat))
            {
                return null;
            }
            Directory.CreateDirectory(marker);
            if (new DirectoryInfo(marker).LinkTarget is not null)
            {
                return null; // a marker written there would not be under the watched tree
            }
            var watched = new Watched(root, marker);
            lock (s_lock)
            {
                if (s_watched.TryGetValue(root, out var old))
                {
                    old.Dispose();
                }
                s_watched[root] = watched;
                while (s_watched.Count > MaxWatched)
                {
                    var oldest = s_watched.MinBy(w => w.Value.LastUsed);
                    oldest.Value.Dispose();
                    s_watched.Remove(oldest.Key);
                }
            }
            return watched;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or PlatformNotSupportedException)
        {
            return null; // no watcher: the tree is walked every time
        }
    }

    private static void Drop(string root, Watched watched, bool failed)
    {
        lock (s_lock)
        {
            if (s_watched.TryGetValue(root, out var current) && ReferenceEquals(current, watched))
            {
                s_watched.Remove(root);
            }
            if (failed)
            {
                s_failures[root] = s_failures.GetValueOrDefault(root) + 1;
            }
        }
        watched.Dispose();
    }

    /// <summary>One repository's watcher and the stamps it vouches for.</summary>
    private sealed class Watched : IDisposable
    {
        private readonly FileSystemWatcher _watcher;
        private readonly string _root;
        private readonly string _markerFolder;
        private readonly Dictionary<string, (string Stamp, HashSet<string> Excluded)> _kept = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, TaskCompletionSource> _markers = new(PathComparer);
        private readonly object _lock = new();
        private long _generation;
        private volatile bool _failed;

        public Watched(string root, string markerFolder)
        {
            _root = root;
            _markerFolder = markerFolder;
            _watcher = new FileSystemWatcher(root)
            {
                IncludeSubdirectories = true,
                // Not LastAccess: reading the tree (packing it, running a step) must not count as a change.
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.Attributes | NotifyFilters.CreationTime,
                InternalBufferSize = 64 * 1024,
            };
            _watcher.Created += (_, e) => Changed(e.FullPath, created: true);
            _watcher.Changed += (_, e) => Changed(e.FullPath, created: false);
            _watcher.Deleted += (_, e) => Changed(e.FullPath, created: false);
            _watcher.Renamed += (_, e) =>
            {
                Changed(e.OldFullPath, created: false);
                Changed(e.FullPath, created: true);
            };
            _watcher.Error += (_, _) =>
            {
                _failed = true; // an overflow lost changes: nothing kept is vouched for any more
                Changed(null, created: false);
            };
            // Returns once every folder is watched: a change from here on is reported.
            _watcher.EnableRaisingEvents = true;
            LastUsed = Environment.TickCount64;
        }

        public long LastUsed { get; private set; }

        public long Generation => Interlocked.Read(ref _generation);

        public bool IsHealthy => !_failed;

        public bool Has(string options)
        {
            lock (_lock)
            {
                return !_failed && _kept.ContainsKey(options);
            }
        }

        public bool TryGet(string options, out string stamp)
        {
            lock (_lock)
            {
                LastUsed = Environment.TickCount64;
                if (!_failed && _kept.TryGetValue(options, out var kept))
                {
                    stamp = kept.Stamp;
                    return true;
                }
                stamp = string.Empty;
                return false;
            }
        }

        /// <summary>Keeps a walk's stamp, unless something changed since the walk began (<paramref name="generation"/>).</summary>
        public void Keep(string options, HashSet<string> excluded, string stamp, long generation)
        {
            lock (_lock)
            {
                if (!_failed && Interlocked.Read(ref _generation) == generation)
                {
                    _kept[options] = (stamp, excluded);
                }
            }
        }

        /// <summary>
        /// Writes a marker file and waits for its report: true when it came, every earlier change then seen. False
        /// when it did not come in time, or the marker could not be written.
        /// </summary>
        public bool Settle()
        {
            if (_failed)
            {
                return false;
            }
            var marker = Path.Combine(_markerFolder, "watch-" + Guid.NewGuid().ToString("N") + ".marker");
            var reported = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _markers[marker] = reported;
            try
            {
                using (new FileStream(marker, FileMode.CreateNew, FileAccess.Write, FileShare.None))
                {
                }
                return reported.Task.Wait(MarkerTimeout) && !_failed;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return false;
            }
            finally
            {
                _markers.TryRemove(marker, out _);
                try
                {
                    File.Delete(marker);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // A marker left behind is in the work folder, which nothing packs.
                }
            }
        }

        private void Changed(string? path, bool created)
        {
            if (path is not null && created && _markers.TryGetValue(path, out var marker))
            {
                marker.TrySetResult();
                return;
            }
            if (path is not null && Irrelevant(path))
            {
                return;
            }
            lock (_lock)
            {
                Interlocked.Increment(ref _generation);
                _kept.Clear();
            }
        }

        /// <summary>Whether a change at <paramref name="path"/> cannot change any kept stamp.</summary>
        private bool Irrelevant(string path)
        {
            var relative = Path.GetRelativePath(_root, path).Replace('\\', '/');
            if (relative == ".rlabs" || relative.StartsWith(".rlabs/", StringComparison.Ordinal))
            {
                return true;
            }
            // Not .git itself nor .git/info: a folder made, removed or moved in is watched only from its report on, so
            // an exclude file written into a new .git/info at once would not be reported itself.
            if (relative.StartsWith(".git/", StringComparison.Ordinal) && relative != ".git/info" && relative != ".git/info/exclude")
            {
                return true;
            }
            lock (_lock)
            {
                return _kept.Count > 0 && _kept.Values.All(k => IsUnder(path, k.Excluded));
            }
        }

        private static bool IsUnder(string path, HashSet<string> excluded)
        {
            for (var current = path; !string.IsNullOrEmpty(current); current = Path.GetDirectoryName(current))
            {
                if (excluded.Contains(current))
                {
                    return true;
                }
            }
            return false;
        }

        public void Dispose()
        {
            _failed = true;
            _watcher.Dispose();
        }
    }
}
