using System.Management.Automation;
using Rlabs.Pipelines.Config;

namespace Rlabs.Pipelines.Commands;

/// <summary>Test-RlabsPipeline: one diagnostic per problem in a pipeline file, or a bool with -Quiet.</summary>
[Cmdlet(VerbsDiagnostic.Test, "RlabsPipeline")]
[OutputType(typeof(RlabsPipelineDiagnostic), typeof(bool))]
public sealed class TestRlabsPipelineCommand : RlabsCmdlet
{
    /// <summary>The pipeline YAML file.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PipelineConfigFile")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = string.Empty;

    /// <summary>The data-apps repository the code paths are checked against; default: the current location.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? RepositoryPath { get; set; }

    /// <summary>Return only $true (no errors) or $false.</summary>
    [Parameter]
    public SwitchParameter Quiet { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        var result = PipelineConfigReader.Read(ResolvePath(Path), ResolveRepository(RepositoryPath));
        RunReport.Annotate(this, result.Diagnostics);
        if (Quiet)
        {
            WriteObject(!result.HasErrors);
            return;
        }
        foreach (var diagnostic in result.Diagnostics)
        {
            WriteObject(diagnostic);
        }
    }
}
