using Rlabs.Pipelines.Packaging;

namespace Rlabs.Pipelines.Tests.Packaging;

/// <summary>The session's watcher that spares an unchanged repository its stat walk, and never vouches for a changed one.</summary>
public sealed class SourceTreeWatchTests : IDisposable
{
    private readonly TempRepository _repo = new();

    public SourceTreeWatchTests()
    {
        // The marker's report comes through the thread pool, which the test classes starting at once can starve for
        // longer than a run would wait; a late report would make a walk these tests count.
        SourceTreeWatch.MarkerTimeout = TimeSpan.FromSeconds(10);
        _repo.Write(".gitignore", "*.log\n");
        _repo.Write("src/app.py", "print('v1')");
        _repo.Write("src/lib/util.py", "x = 1");
        _repo.Write(".rlabs/runs/j1/out.txt", "work folder");
        _repo.Write("data/in.csv", "a,b");
    }

    public void Dispose() => _repo.Dispose();

    private string[] Excluded => [Path.Combine(_repo.Root, "data")];

    private string Stamp() => SourceTreeStamp.Compute(_repo.Root, Excluded, []);

    private string Walked() => SourceTreeStamp.Walked(_repo.Root, Excluded, []);

    private int Walks => SourceTreeWatch.Walks(_repo.Root);

    /// <summary>Two walks: the first counts the folders, the second starts the watcher.</summary>
    private string Warm()
    {
        Stamp();
        return Stamp();
    }

    [Fact]
    public void Should_walk_an_unchanged_repository_twice_in_a_session_then_vouch_for_its_stamp()
    {
        var stamp = Warm();
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(stamp, Stamp());
        }

        Assert.Equal(2, Walks);
        Assert.Equal(Walked(), stamp);
    }

    [Fact]
    public void Should_walk_when_asked_to_whatever_the_watcher_says()
    {
        var stamp = Warm();
        Assert.Equal(stamp, SourceTreeStamp.Compute(_repo.Root, Excluded, [], walk: true));
        Assert.Equal(3, Walks);
        Assert.Equal(stamp, Stamp());
        Assert.Equal(3, Walks);
    }

    [Fact]
    public void Should_see_every_edit_made_just_before_the_stamp_is_asked_for()
    {
        var previous = Warm();
        var app = Path.Combine(_repo.Root, "src", "app.py");
        for (var i = 0; i < 40; i++)
        {
            // No pause between the edit and the question: the marker the watcher must report first orders them.
            File.WriteAllText(app, new string('x', i + 20));
            var stamp = Stamp();

            Assert.NotEqual(previous, stamp);
            Assert.Equal(Walked(), stamp);
            previous = stamp;
        }
    }

    [Fact]
    public void Should_see_a_file_added_in_a_new_folder_and_a_file_removed()
    {
        var before = Warm();
        _repo.Write("src/new/deeper/mod.py", "y = 2");
        var added = Stamp();
        Assert.NotEqual(before, added);
        Assert.Equal(Walked(), added);

        Directory.Delete(Path.Combine(_repo.Root, "src", "new"), recursive: true);
        Assert.Equal(before, Stamp());
        File.Delete(Path.Combine(_repo.Root, "src", "lib", "util.py"));
        Assert.Equal(Walked(), Stamp());
        Assert.NotEqual(before, Stamp());
    }

    [Fact]
    public void Should_not_walk_again_for_changes_in_the_work_folder_git_or_an_excluded_path()
    {
        _repo.Write(".git/HEAD", "ref: refs/heads/main");
        var stamp = Warm();
        _repo.Write(".rlabs/runs/j2/out.txt", "the work folder");
        _repo.Write(".git/index", "git's own");
        _repo.Write("data/out.csv", "the excluded data root");
        Assert.Equal(stamp, Stamp());

        Assert.Equal(2, Walks);
    }

    [Fact]
    public void Should_walk_again_after_a_change_git_ignores_and_find_the_same_stamp()
    {
        var stamp = Warm();
        _repo.Write("debug.log", "ignored");
        Assert.Equal(stamp, Stamp());
        Assert.Equal(3, Walks);
        Assert.Equal(stamp, Stamp());
        Assert.Equal(3, Walks);
    }

    [Fact]
    public void Should_see_a_change_to_git_info_exclude()
    {
        // The worst case: no .git yet, and the exclude file written the moment its folders are made.
        var stamp = Warm();
        _repo.Write(".git/info/exclude", "src/lib/\n");
        var excluded = Stamp();
        Assert.NotEqual(stamp, excluded);
        Assert.Equal(Walked(), excluded);
    }

    [Fact]
    public void Should_walk_a_repository_replaced_at_the_same_path()
    {
        var stamp = Warm();
        var aside = _repo.Root + "-old";
        Directory.Move(_repo.Root, aside);
        try
        {
            // Another checkout where the repository was: the old watcher follows the folder it watched, not the path.
            _repo.Write("src/app.py", "print('another checkout')");
            _repo.Write(".rlabs/runs/j9/out.txt", "its work folder");
            var replaced = Stamp();

            Assert.NotEqual(stamp, replaced);
            Assert.Equal(Walked(), replaced);
        }
        finally
        {
            Directory.Delete(aside, recursive: true);
        }
    }

    [Fact]
    public void Should_not_watch_a_repository_without_a_work_folder()
    {
        Directory.Delete(Path.Combine(_repo.Root, ".rlabs"), recursive: true);
        var stamp = Warm();
        Assert.Equal(stamp, Stamp());

        Assert.Equal(3, Walks);
        Assert.False(Directory.Exists(Path.Combine(_repo.Root, ".rlabs")));
    }

    [Fact]
    public void Should_not_watch_a_repository_of_more_folders_than_the_limit()
    {
        for (var i = 0; i < SourceTreeWatch.MaxDirectories; i++)
        {
            Directory.CreateDirectory(Path.Combine(_repo.Root, "many", (i % 40).ToString("D2", System.Globalization.CultureInfo.InvariantCulture), i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        var stamp = Warm();
        Assert.Equal(stamp, Stamp());

        Assert.Equal(3, Walks); // every question walks: no watch per folder of a big tree
    }

    [Theory]
    [InlineData("ext4", true)]
    [InlineData("xfs", true)]
    [InlineData("tmpfs", true)]
    [InlineData("overlay", true)]
    [InlineData("apfs", true)]
    [InlineData("NTFS", true)]
    [InlineData("nfs", false)]
    [InlineData("nfs4", false)]
    [InlineData("cifs", false)]
    [InlineData("smb2", false)]
    [InlineData("9p", false)]
    [InlineData("virtiofs", false)]
    [InlineData("fuse.sshfs", false)]
    [InlineData(null, false)]
    public void Should_watch_only_local_file_systems(string? format, bool watched)
    {
        Assert.Equal(watched, SourceTreeWatch.IsLocalFileSystem(format));
    }
}
