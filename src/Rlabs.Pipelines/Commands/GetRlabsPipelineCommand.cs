using System.Management.Automation;

namespace Rlabs.Pipelines.Commands;

/// <summary>Get-RlabsPipeline: loads and validates a pipeline YAML file.</summary>
[Cmdlet(VerbsCommon.Get, "RlabsPipeline")]
[OutputType(typeof(RlabsPipeline))]
public sealed class GetRlabsPipelineCommand : RlabsCmdlet
{
    /// <summary>The pipeline YAML file.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PipelineConfigFile")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = string.Empty;

    /// <summary>The data-apps repository; default: the current location.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? RepositoryPath { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        WriteObject(ReadPipeline(ResolvePath(Path), ResolveRepository(RepositoryPath)));
    }
}
