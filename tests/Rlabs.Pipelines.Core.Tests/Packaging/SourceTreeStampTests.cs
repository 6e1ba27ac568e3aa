using Rlabs.Pipelines.Packaging;

namespace Rlabs.Pipelines.Tests.Packaging;

/// <summary>The stamp that decides whether a source zip (and the step cache's source part) can be reused.</summary>
public sealed class SourceTreeStampTests : IDisposable
{
    private readonly TempRepository _repo = new();
    private readonly string _zip = Path.Combine(Path.GetTempPath(), "rlabs-tests", Guid.NewGuid().ToString("N") + ".zip");

    public SourceTreeStampTests()
    {
        _repo.Write(".gitignore", "*.log\nscratch/\n");
        _repo.Write("src/app.py", "print('v1')");
        _repo.Write("src/lib/util.py", "x = 1");
        _repo.Write("notes.log", "ignored");
        _repo.Write("scratch/big.bin", "ignored folder");
        _repo.Write(".rlabs/runs/j1/out.txt", "work folder");
        _repo.Write("data/in.csv", "a,b");
    }

    public void Dispose()
    {
        _repo.Dispose();
        File.Delete(_zip);
    }

    private string Stamp() => SourceTreeStamp.Compute(_repo.Root, [Path.Combine(_repo.Root, "data")], []);

    private static void Later(string path, int seconds = 10) => File.SetLastWriteTimeUtc(path, File.GetLastWriteTimeUtc(path).AddSeconds(seconds));

    [Fact]
    public void Should_be_the_same_for_an_unchanged_tree()
    {
        Assert.Equal(Stamp(), Stamp());
    }

    [Fact]
    public void Should_change_when_a_file_changes_even_to_the_same_size()
    {
        var before = Stamp();
        var app = _repo.Write("src/app.py", "print('v2')");
        Later(app);
        Assert.NotEqual(before, Stamp());
    }

    [Fact]
    public void Should_change_when_a_file_is_added_or_removed()
    {
        var before = Stamp();
        var added = _repo.Write("src/lib/new.py", string.Empty);
        var withAdded = Stamp();
        Assert.NotEqual(before, withAdded);

        File.Delete(added);
        Assert.Equal(before, Stamp());
        File.Delete(Path.Combine(_repo.Root, "src", "lib", "util.py"));
        Assert.NotEqual(before, Stamp());
    }

    [Fact]
    public void Should_change_for_a_touched_file_whose_zip_stays_the_same()
    {
        SourcePackager.CreateZip(_repo.Root, _zip, [Path.Combine(_repo.Root, "data")], CancellationToken.None);
        var hashBefore = SourcePackager.CreateZip(_repo.Root, _zip, [Path.Combine(_repo.Root, "data")], CancellationToken.None).Sha256;
        var before = Stamp();

        Later(Path.Combine(_repo.Root, "src", "app.py"));

        // Never reuse on a guess: the touch is seen, and what is built from the tree again is byte for byte the same.
        Assert.NotEqual(before, Stamp());
        Assert.Equal(hashBefore, SourcePackager.CreateZip(_repo.Root, _zip, [Path.Combine(_repo.Root, "data")], CancellationToken.None).Sha256);
    }

    [Fact]
    public void Should_not_change_when_ignored_excluded_or_work_files_change()
    {
        var before = Stamp();
        Later(_repo.Write("notes.log", "ignored, and longer now"));
        _repo.Write("scratch/more/new.bin", "in an ignored folder");
        _repo.Write("debug.log", "a new ignored file");
        _repo.Write("data/out.csv", "the excluded data root");
        _repo.Write(".rlabs/runs/j2/out.txt", "the work folder");
        _repo.Write(".git/index", "git's own");
        Assert.Equal(before, Stamp());
    }

    [Fact]
    public void Should_change_when_a_gitignore_changes_what_is_packed()
    {
        var before = Stamp();
        var gitignore = _repo.Write(".gitignore", "scratch/\n");
        Later(gitignore);
        Assert.NotEqual(before, Stamp()); // notes.log is packed now
    }

    [Fact]
    public void Should_change_with_the_packing_options()
    {
        Assert.NotEqual(Stamp(), SourceTreeStamp.Compute(_repo.Root, [Path.Combine(_repo.Root, "data")], ["keys/*.pem"]));
        Assert.NotEqual(Stamp(), SourceTreeStamp.Compute(_repo.Root, [], []));
    }

    [Fact]
    public void Should_change_when_the_target_of_a_file_link_changes()
    {
        var target = _repo.Write("src/target.py", "a = 1");
        File.CreateSymbolicLink(Path.Combine(_repo.Root, "src", "alias.py"), target);
        var before = Stamp();
        File.WriteAllText(target, "a = 2");
        Later(target);
        Assert.NotEqual(before, Stamp());
    }

    [Fact]
    public void Should_compute_a_remembered_value_again_only_when_the_stamp_changes()
    {
        var calls = 0;
        string Compute()
        {
            calls++;
            return "value" + calls;
        }

        Assert.Equal("value1", SourceTreeStamp.Remember(_repo.Root, "probe", "s1", Compute));
        Assert.Equal("value1", SourceTreeStamp.Remember(_repo.Root, "probe", "s1", Compute));
        Assert.Equal(1, calls);
        Assert.Equal("value2", SourceTreeStamp.Remember(_repo.Root, "probe", "s2", Compute));
        Assert.Equal(2, calls);
    }
}
