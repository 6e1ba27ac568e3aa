using System.IO.Compression;
using Rlabs.Pipelines.Packaging;

namespace Rlabs.Pipelines.Tests.Packaging;

public sealed class SourcePackagerTests : IDisposable
{
    private readonly TempRepository _repo = new();
    private readonly string _zip = Path.Combine(Path.GetTempPath(), "rlabs-tests", Guid.NewGuid().ToString("N") + ".zip");

    public void Dispose()
    {
        _repo.Dispose();
        File.Delete(_zip);
    }

    private List<string> Entries()
    {
        using var archive = ZipFile.OpenRead(_zip);
        return archive.Entries.Select(e => e.FullName).ToList();
    }

    [Fact]
    public void Should_honour_gitignore_and_never_pack_git_data_or_credentials()
    {
        _repo.Write(".gitignore", "# comment\n*.log\n/build/\nscratch\n!keep.log\ndocs/**/draft.md\n");
        _repo.Write("src/app.py", "x");
        _repo.Write("src/debug.log", "x");
        _repo.Write("keep.log", "x");
        _repo.Write("build/out.bin", "x");
        _repo.Write("src/build/inner.py", "x");
        _repo.Write("a/scratch/x.py", "x");
        _repo.Write("docs/a/b/draft.md", "x");
        _repo.Write("docs/final.md", "x");
        _repo.Write(".git/config", "x");
        _repo.Write("sub/.git", "gitdir: elsewhere");
        _repo.Write("data/in.csv", "x");
        _repo.Write("my-creds.yaml", "secret");
        _repo.Write("keys/instance.pem", "-----BEGIN");
        _repo.Write("credentials.yaml", "aws: {}");
        _repo.Write("nested/.gitignore", "*.tmp\n");
        _repo.Write("nested/x.tmp", "x");
        _repo.Write("nested/y.py", "x");
        _repo.Write("other.tmp", "x");

        var package = SourcePackager.CreateZip(_repo.Root, _zip, [Path.Combine(_repo.Root, "data"), Path.Combine(_repo.Root, "my-creds.yaml")], CancellationToken.None);

        Assert.Equal(
            [".gitignore", "docs/final.md", "keep.log", "nested/.gitignore", "nested/y.py", "other.tmp", "src/app.py", "src/build/inner.py"],
            Entries());
        Assert.Equal(8, package.FileCount);
        Assert.Equal(["credentials.yaml", "keys/instance.pem"], package.SkippedSecrets);
    }

    [Fact]
    public void Should_produce_the_same_bytes_for_the_same_tree()
    {
        _repo.Write("a.py", "print(1)");
        _repo.Write("b/c.py", "print(2)");

        var first = SourcePackager.CreateZip(_repo.Root, _zip, [], CancellationToken.None);
        File.SetLastWriteTimeUtc(Path.Combine(_repo.Root, "a.py"), DateTime.UtcNow.AddDays(-3));
        var second = SourcePackager.CreateZip(_repo.Root, _zip, [], CancellationToken.None);
        _repo.Write("a.py", "print(3)");
        var third = SourcePackager.CreateZip(_repo.Root, _zip, [], CancellationToken.None);

        Assert.Equal(first.Sha256, second.Sha256);
        Assert.NotEqual(first.Sha256, third.Sha256);
    }

    [Fact]
    public void Should_leave_out_file_links_pointing_outside_and_pack_links_inside_as_their_content()
    {
        using var outside = new TempRepository();
        var creds = outside.Write("creds.yaml", "aws:\n  aws_access_key_id: AKIAOUTSIDE\n");
        _repo.Write("conf/real.yaml", "inside: 1\n");
        _repo.Write("app.py", "x");
        File.CreateSymbolicLink(Path.Combine(_repo.Root, "conf", "settings.yaml"), creds);
        File.CreateSymbolicLink(Path.Combine(_repo.Root, "conf", "alias.yaml"), "real.yaml");
        File.CreateSymbolicLink(Path.Combine(_repo.Root, "dangling.txt"), Path.Combine(_repo.Root, "nothing-here"));

        var package = SourcePackager.CreateZip(_repo.Root, _zip, [], CancellationToken.None);

        Assert.Equal(["app.py", "conf/alias.yaml", "conf/real.yaml"], Entries());
        using (var archive = ZipFile.OpenRead(_zip))
        using (var reader = new StreamReader(archive.GetEntry("conf/alias.yaml")!.Open()))
        {
            Assert.Equal("inside: 1\n", reader.ReadToEnd());
        }
        Assert.Equal([$"conf/settings.yaml -> {creds}", $"dangling.txt -> {Path.Combine(_repo.Root, "nothing-here")}"], package.SkippedLinks);
    }

    [Fact]
    public void Should_not_pack_an_excluded_or_ignored_file_through_a_link_to_it()
    {
        _repo.Write(".gitignore", "secret-notes.txt\n");
        _repo.Write("secret-notes.txt", "hidden");
        var creds = _repo.Write("my-creds.yaml", "warehouse: pw");
        File.CreateSymbolicLink(Path.Combine(_repo.Root, "notes.txt"), "secret-notes.txt");
        File.CreateSymbolicLink(Path.Combine(_repo.Root, "settings.yaml"), "my-creds.yaml");
        File.CreateSymbolicLink(Path.Combine(_repo.Root, "key.txt"), ".git/config");
        _repo.Write(".git/config", "x");

        SourcePackager.CreateZip(_repo.Root, _zip, [creds], CancellationToken.None);

        Assert.Equal([".gitignore"], Entries());
    }

    [Theory]
    [InlineData(".env.local", "DB_PASSWORD=x")]
    [InlineData(".git-credentials", "https://u:token@github.com")]
    [InlineData(".pypirc", "[pypi]\npassword = x")]
    [InlineData("service-account.json", "{}")]
    [InlineData("deploy/gcp.json", "{\n  \"type\": \"service_account\",\n  \"private_key\": \"x\"\n}")]
    [InlineData("deploy/mykey", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n")]
    [InlineData("certs/server", "-----BEGIN RSA PRIVATE KEY-----\nMII\n")]
    [InlineData("conf/settings.yaml", "aws:\n  aws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")]
    public void Should_leave_out_secret_looking_files_by_name_and_by_content(string path, string content)
    {
        _repo.Write("app.py", "x");
        _repo.Write(path, content);

        var package = SourcePackager.CreateZip(_repo.Root, _zip, [], CancellationToken.None);

        Assert.Equal(["app.py"], Entries());
        Assert.Equal([path], package.SkippedSecrets);
    }

    [Fact]
    public void Should_pack_secret_looking_files_only_when_the_allow_list_names_them()
    {
        _repo.Write(".gitignore", "!.env.example\n");
        _repo.Write(".env.example", "DB_PASSWORD=changeme");
        _repo.Write("tests/fixtures/test.pem", "-----BEGIN PRIVATE KEY-----\n");
        _repo.Write("deploy/real.pem", "-----BEGIN PRIVATE KEY-----\n");

        var ignoredOnly = SourcePackager.CreateZip(_repo.Root, _zip, [], CancellationToken.None);
        Assert.Equal([".env.example", "deploy/real.pem", "tests/fixtures/test.pem"], ignoredOnly.SkippedSecrets);

        var allowed = SourcePackager.CreateZip(_repo.Root, _zip, [], [".env.example", "tests/fixtures/*.pem"], CancellationToken.None);

        Assert.Equal([".env.example", ".gitignore", "tests/fixtures/test.pem"], Entries());
        Assert.Equal(["deploy/real.pem"], allowed.SkippedSecrets);
    }

    [Fact]
    public void Should_not_pack_the_zip_into_itself_when_written_inside_the_repository()
    {
        _repo.Write("a.py", "x");
        var inside = Path.Combine(_repo.Root, "out", "source.zip");

        SourcePackager.CreateZip(_repo.Root, inside, [], CancellationToken.None);
        var again = SourcePackager.CreateZip(_repo.Root, inside, [], CancellationToken.None);

        Assert.Equal(1, again.FileCount);
    }

    [Theory]
    [InlineData("*.py", "a/b.py", false, true)]
    [InlineData("/root.txt", "root.txt", false, true)]
    [InlineData("/root.txt", "a/root.txt", false, false)]
    [InlineData("logs/", "a/logs", true, true)]
    [InlineData("logs/", "a/logs", false, false)]
    [InlineData("a/**/z", "a/z", false, true)]
    [InlineData("a/**/z", "a/x/y/z", false, true)]
    [InlineData("**/foo", "x/foo", false, true)]
    [InlineData("foo/**", "foo/x/y", false, true)]
    [InlineData("f?o", "fao", false, true)]
    [InlineData("f[a-c]o", "fbo", false, true)]
    [InlineData("f[!a-c]o", "fbo", false, false)]
    [InlineData("\\#hash", "#hash", false, true)]
    [InlineData("build", "a/build", true, true)]
    [InlineData("build", "build", false, true)]
    [InlineData("build", "a/rebuild", false, false)]
    [InlineData("build", "build.txt", false, false)]
    [InlineData("build", "build/x.py", false, false)]
    [InlineData("*.py", "a.pyc", false, false)]
    [InlineData("*.log", "a.log/b.txt", false, false)]
    [InlineData("*.log", "deep/er/x.log", false, true)]
    [InlineData("*", "any/name", false, true)]
    [InlineData("te?t.py", "x/test.py", false, true)]
    [InlineData("te?t.py", "x/tet.py", false, false)]
    [InlineData("*.p[yx]", "x/a.px", false, true)]
    [InlineData("a*b", "x/a/b", false, false)]
    public void Should_match_gitignore_patterns_like_git(string pattern, string path, bool isDirectory, bool ignored)
    {
        var file = GitIgnoreFile.Parse(string.Empty, [pattern]);

        Assert.Equal(ignored, file.Match(path, isDirectory) == true);
    }
}
