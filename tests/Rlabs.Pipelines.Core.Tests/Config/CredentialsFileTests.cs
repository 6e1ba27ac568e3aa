using Rlabs.Pipelines.Config;

namespace Rlabs.Pipelines.Tests.Config;

public sealed class CredentialsFileTests : IDisposable
{
    private readonly TempRepository _repo = new();

    public void Dispose() => _repo.Dispose();

    [Fact]
    public void Should_strip_aws_keys_and_keep_other_secrets()
    {
        var path = _repo.Write("credentials.yaml", """
            aws:
              aws_access_key_id: AKIAEXAMPLE1234567
              aws_secret_access_key: s3cr3t/value+here
              region_name: eu-west-1
            warehouse:
              host: db.internal
              password: "pa55 word"
            """);

        var credentials = CredentialsFile.Load(path);

        Assert.True(credentials.HasAwsKeys);
        Assert.Equal("AKIAEXAMPLE1234567", credentials.AccessKey);
        Assert.Equal("eu-west-1", credentials.Region);
        Assert.DoesNotContain("AKIAEXAMPLE1234567", credentials.StrippedYaml, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr3t", credentials.StrippedYaml, StringComparison.Ordinal);
        Assert.Contains("pa55 word", credentials.StrippedYaml, StringComparison.Ordinal);
        Assert.Contains("region_name", credentials.StrippedYaml, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr3t", credentials.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Should_strip_top_level_keys_and_drop_an_emptied_aws_section()
    {
        var path = _repo.Write("c.yaml", "aws_access_key_id: AK\naws_secret_access_key: SK\naws:\n  aws_session_token: TOKEN\nother: 1\n");

        var credentials = CredentialsFile.Load(path);

        Assert.Equal("TOKEN", credentials.SessionToken);
        Assert.Equal(["other"], credentials.Sections);
        Assert.DoesNotContain("aws", credentials.StrippedYaml, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_strip_aliases_sts_names_nested_profiles_and_copies_of_the_key_by_value()
    {
        var path = _repo.Write("credentials.yaml", """
            aws:
              aws_access_key_id: AKIAEXAMPLE1234567
              aws_secret_access_key: &sk wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRET
              profiles:
                prod:
                  access_key: AKIAPRODPRODPROD1234
                  secret_key: PRODSECRETVALUE
            sts:
              AccessKeyId: ASIATEMPTEMPTEMP1234
              SecretAccessKey: STSSECRETVALUE
              SessionToken: STSSESSIONTOKEN
            warehouse:
              password: "pa55 word"
              backup_sk: *sk
              also: wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRET
              copies: [AKIAEXAMPLE1234567, keep-me]
              user_key: AKIAOTHEROTHER123456
            """);

        var stripped = CredentialsFile.Load(path).StrippedYaml;

        foreach (var secret in new[] { "AKIAEXAMPLE1234567", "wJalrXUtnFEMI", "AKIAPRODPRODPROD1234", "PRODSECRETVALUE", "ASIATEMPTEMPTEMP1234", "STSSECRETVALUE", "STSSESSIONTOKEN", "AKIAOTHEROTHER123456" })
        {
            Assert.DoesNotContain(secret, stripped, StringComparison.Ordinal);
        }
        Assert.Contains("pa55 word", stripped, StringComparison.Ordinal);
        Assert.Contains("keep-me", stripped, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_write_the_copy_in_a_fresh_private_folder_without_following_a_planted_link()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var path = _repo.Write("c.yaml", "warehouse: { password: x }\n");
        var victim = _repo.Write("victim/authorized_keys", "ssh-ed25519 AAAA original\n");
        var folder = Path.Combine(_repo.Root, "run", "credentials");
        Directory.CreateDirectory(folder);
        File.SetUnixFileMode(folder, (UnixFileMode)0x1FF);
        var copy = Path.Combine(folder, "credentials.yaml");
        File.CreateSymbolicLink(copy, victim);

        CredentialsFile.Load(path).WriteStripped(copy);

        Assert.Equal("ssh-ed25519 AAAA original\n", File.ReadAllText(victim));
        Assert.Null(new FileInfo(copy).LinkTarget);
        Assert.Contains("password", File.ReadAllText(copy), StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(folder));

        // A link in place of the folder is removed, not followed.
        var elsewhere = Path.Combine(_repo.Root, "elsewhere");
        Directory.CreateDirectory(elsewhere);
        Directory.Delete(folder, recursive: true);
        Directory.CreateSymbolicLink(folder, elsewhere);

        CredentialsFile.Load(path).WriteStripped(copy);

        Assert.Empty(Directory.EnumerateFileSystemEntries(elsewhere));
        Assert.Null(new DirectoryInfo(folder).LinkTarget);
        Assert.True(File.Exists(copy));
    }

    [Fact]
    public void Should_write_the_stripped_copy_readable_by_the_owner_only()
    {
        var path = _repo.Write("c.yaml", "warehouse: { password: x }\n");
        var copy = Path.Combine(_repo.Root, "out", "credentials.yaml");

        CredentialsFile.Load(path).WriteStripped(copy);

        Assert.Contains("password", File.ReadAllText(copy), StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(copy));
        }
    }

    [Fact]
    public void Should_not_quote_secret_values_in_syntax_errors()
    {
        var path = _repo.Write("c.yaml", "aws:\n  aws_secret_access_key: \"TOPSECRET\n  x: [\n");

        var error = Assert.Throws<RlabsConfigException>(() => CredentialsFile.Load(path));

        Assert.DoesNotContain("TOPSECRET", error.Message, StringComparison.Ordinal);
        Assert.Contains("c.yaml", error.Message, StringComparison.Ordinal);
        Assert.Contains("line", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_reject_half_a_key_pair_and_non_mappings()
    {
        var half = _repo.Write("half.yaml", "aws:\n  aws_access_key_id: AK\n");
        var list = _repo.Write("list.yaml", "- a\n- b\n");

        Assert.Contains("no secret key", Assert.Throws<RlabsConfigException>(() => CredentialsFile.Load(half)).Message, StringComparison.Ordinal);
        Assert.Contains("mapping", Assert.Throws<RlabsConfigException>(() => CredentialsFile.Load(list)).Message, StringComparison.Ordinal);
        Assert.Throws<RlabsConfigException>(() => CredentialsFile.Load(Path.Combine(_repo.Root, "missing.yaml")));
    }
}
