using System.Management.Automation;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Cloud;
using Rlabs.Pipelines.Planning;

namespace Rlabs.Pipelines.Commands;

/// <summary>Export-RlabsPipelineDefinition: writes the SageMaker pipeline definition a pipeline file compiles to.</summary>
[Cmdlet(VerbsData.Export, "RlabsPipelineDefinition", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(string), typeof(FileInfo))]
public sealed class ExportRlabsPipelineDefinitionCommand : RlabsAwsCmdlet
{
    private static readonly JsonSerializerOptions s_indented = new() { WriteIndented = true };

    /// <summary>The pipeline YAML file.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PipelineConfigFile")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = string.Empty;

    /// <summary>The data-apps repository; default: the current location.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? RepositoryPath { get; set; }

    /// <summary>An ml.* instance type for every step (it beats the file's); default: the file's.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(InstanceTypeCompleter))]
    [ValidateNotNullOrEmpty]
    public string? InstanceType { get; set; }

    /// <summary>IAM role the steps' jobs run as; default: role_arn in the pipeline file.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? RoleArn { get; set; }

    /// <summary>S3 bucket of the runs; default: bucket in the pipeline file, else sagemaker-&lt;region&gt;-&lt;account&gt;.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Bucket { get; set; }

    /// <summary>Writes the definition to this file instead of the output.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? OutFile { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        var path = ResolvePath(Path);
        var pipeline = ReadPipeline(path, ResolveRepository(RepositoryPath));
        var request = new RunRequest
        {
            Pipeline = pipeline,
            JobId = "export",
            InstanceType = InstanceType,
            Cloud = new CloudRunOptions { RoleArn = RoleArn, Bucket = Bucket, NoWait = true, Engine = CloudEngine.SageMakerPipelines },
        };
        var work = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "rlabs-export-" + Guid.NewGuid().ToString("N"));
        try
        {
            if (RunPlanner.Target(request) != RunTarget.Cloud)
            {
                throw new RlabsRunException($"The steps of {pipeline.Path} run locally ('local' instance type); a SageMaker pipeline needs an ml.* instance type: pass -InstanceType, e.g. ml.t3.medium.", "LocalPipelineNotExportable", RlabsRunErrorKind.InvalidArgument, pipeline.Path);
            }
            using var session = CreateSession(CredentialsFile);
            var account = ProcessingJobBinder.NeedsAccount(request)
                ? session.GetCallerIdentityAsync(CancellationToken).GetAwaiter().GetResult().Account
                : null;
            var plan = RunPlanner.Plan(request, session.Region);
            var source = ProcessingJobBinder.Package(request, work, CancellationToken);
            CompiledPipelineDefinition compiled;
            try
            {
                compiled = PipelineDefinitionCompiler.Compile(plan, session.Region, account, source);
            }
            catch (RlabsConfigException ex)
            {
                throw new RlabsRunException(ex.Message, "CloudRunInvalid", RlabsRunErrorKind.InvalidArgument, pipeline.Path, ex);
            }
            WriteVerbose($"SageMaker pipeline {compiled.PipelineName}: definition sha256 {compiled.Hash}, {compiled.Steps.Count} Processing steps, parameter {PipelineDefinitionCompiler.JobIdParameter}.");
            WriteVerbose("The definition names the source zip, code and requirements by content hash; Invoke-RlabsPipeline -Engine SageMakerPipelines uploads them.");
            var json = JsonNode.Parse(compiled.Json)!.ToJsonString(s_indented);
            if (OutFile is null)
            {
                WriteObject(json);
                return;
            }
            var target = ResolvePath(OutFile);
            if (!ShouldProcess(target, $"Write the SageMaker pipeline definition of {pipeline.Name} ({compiled.PipelineName})"))
            {
                return;
            }
            // Written aside and renamed: a reader never sees half a file.
            var aside = target + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
            File.WriteAllText(aside, json, new UTF8Encoding(false));
            File.Move(aside, target, overwrite: true);
            WriteObject(new FileInfo(target));
        }
        catch (OperationCanceledException)
        {
        }
        catch (RlabsRunException ex)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, ex.ErrorId, ex.Target));
        }
        catch (AwsServiceException ex)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, "AwsCallFailed", pipeline.Path));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, "DefinitionExportFailed", OutFile ?? pipeline.RepositoryPath));
        }
        finally
        {
            if (Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }
}
