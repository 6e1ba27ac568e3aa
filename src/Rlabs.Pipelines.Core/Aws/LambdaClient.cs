namespace Rlabs.Pipelines.Aws;

public sealed class FunctionCode
{
    /// <summary>The deployment package; sent base64-encoded.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1819", Justification = "Mirrors the AWS blob member.")]
    public byte[]? ZipFile { get; init; }

    public string? S3Bucket { get; init; }

    public string? S3Key { get; init; }
}

public sealed class FunctionEnvironment
{
    public IReadOnlyDictionary<string, string>? Variables { get; init; }
}

public sealed class CreateFunctionRequest
{
    public required string FunctionName { get; init; }

    public required string Runtime { get; init; }

    /// <summary>Execution role ARN.</summary>
    public required string Role { get; init; }

    public required string Handler { get; init; }

    public required FunctionCode Code { get; init; }

    public string? Description { get; init; }

    public int? Timeout { get; init; }

    public int? MemorySize { get; init; }

    public bool? Publish { get; init; }

    public FunctionEnvironment? Environment { get; init; }

    public IReadOnlyDictionary<string, string>? Tags { get; init; }

    public IReadOnlyList<string>? Architectures { get; init; }
}

public sealed class FunctionConfiguration
{
    public string FunctionName { get; init; } = string.Empty;

    public string FunctionArn { get; init; } = string.Empty;

    public string? Runtime { get; init; }

    public string? Role { get; init; }

    public string? Handler { get; init; }

    public long CodeSize { get; init; }

    public string? Description { get; init; }

    public int? Timeout { get; init; }

    public int? MemorySize { get; init; }

    public string? LastModified { get; init; }

    public string? CodeSha256 { get; init; }

    public string? Version { get; init; }

    public FunctionEnvironment? Environment { get; init; }

    public string? RevisionId { get; init; }

    public string? State { get; init; }

    public string? LastUpdateStatus { get; init; }
}

public sealed class FunctionCodeLocation
{
    public string? RepositoryType { get; init; }

    public string? Location { get; init; }
}

public sealed class GetFunctionResponse
{
    public FunctionConfiguration Configuration { get; init; } = new();

    public FunctionCodeLocation? Code { get; init; }

    public IReadOnlyDictionary<string, string>? Tags { get; init; }
}

public sealed class UpdateFunctionConfigurationRequest
{
    public required string FunctionName { get; init; }

    public string? Role { get; init; }

    public string? Handler { get; init; }

    public string? Description { get; init; }

    public int? Timeout { get; init; }

    public int? MemorySize { get; init; }

    public FunctionEnvironment? Environment { get; init; }

    public string? Runtime { get; init; }
}

public sealed class AddPermissionRequest
{
    public required string FunctionName { get; init; }

    public required string StatementId { get; init; }

    /// <summary>e.g. <c>lambda:InvokeFunction</c>.</summary>
    public required string Action { get; init; }

    /// <summary>e.g. <c>events.amazonaws.com</c>.</summary>
    public required string Principal { get; init; }

    public string? SourceArn { get; init; }

    public string? SourceAccount { get; init; }
}

public sealed class AddPermissionResponse
{
    /// <summary>The resource-policy statement added, as JSON.</summary>
    public string Statement { get; init; } = string.Empty;
}

/// <summary>The scheduler's Lambda function (REST-JSON, API version 2015-03-31).</summary>
public sealed class LambdaClient
{
    private const string Functions = "/2015-03-31/functions";
    private const string Function = Functions + "/{FunctionName}";
    private readonly AwsRestJsonClient _client;

    public LambdaClient(AwsSession session)
    {
        _client = new AwsRestJsonClient(session, AwsService.Lambda, "Lambda");
    }

    public Task<FunctionConfiguration> CreateFunctionAsync(CreateFunctionRequest request, CancellationToken cancellationToken) =>
        _client.InvokeAsync<FunctionConfiguration>("CreateFunction", HttpMethod.Post, Functions, s_noResources, request, cancellationToken);

    public Task<GetFunctionResponse> GetFunctionAsync(string functionName, CancellationToken cancellationToken) =>
        _client.InvokeAsync<GetFunctionResponse>("GetFunction", HttpMethod.Get, Function, Name(functionName), null, cancellationToken);

    /// <summary>The function, or null when it does not exist.</summary>
    public async Task<GetFunctionResponse?> FindFunctionAsync(string functionName, CancellationToken cancellationToken)
    {
        try
        {
            return await GetFunctionAsync(functionName, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.NotFound)
        {
            return null;
        }
    }

    public Task<FunctionConfiguration> UpdateFunctionCodeAsync(string functionName, byte[] zipFile, CancellationToken cancellationToken) =>
        _client.InvokeAsync<FunctionConfiguration>("UpdateFunctionCode", HttpMethod.Put, Function + "/code", Name(functionName),
            new CodeUpdate(zipFile), cancellationToken);

    public Task<FunctionConfiguration> UpdateFunctionConfigurationAsync(UpdateFunctionConfigurationRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        // FunctionName travels in the path; the body holds only the changes.
        var body = new ConfigurationUpdate(request.Role, request.Handler, request.Description, request.Timeout, request.MemorySize, request.Environment, request.Runtime);
        return _client.InvokeAsync<FunctionConfiguration>("UpdateFunctionConfiguration", HttpMethod.Put, Function + "/configuration", Name(request.FunctionName), body, cancellationToken);
    }

    public async Task DeleteFunctionAsync(string functionName, CancellationToken cancellationToken) =>
        await _client.SendAsync("DeleteFunction", HttpMethod.Delete, Function, Name(functionName), null, cancellationToken).ConfigureAwait(false);

    public Task<AddPermissionResponse> AddPermissionAsync(AddPermissionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var body = new PermissionBody(request.StatementId, request.Action, request.Principal, request.SourceArn, request.SourceAccount);
        return _client.InvokeAsync<AddPermissionResponse>("AddPermission", HttpMethod.Post, Function + "/policy", Name(request.FunctionName), body, cancellationToken);
    }

    /// <summary>The function's resource policy (JSON), or null when it has none (or the function is gone).</summary>
    public async Task<string?> FindPolicyAsync(string functionName, CancellationToken cancellationToken)
    {
        try
        {
            var response = await _client.InvokeAsync<PolicyResponse>("GetPolicy", HttpMethod.Get, Function + "/policy", Name(functionName), null, cancellationToken).ConfigureAwait(false);
            return response.Policy;
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.NotFound)
        {
            return null;
        }
    }

    public async Task RemovePermissionAsync(string functionName, string statementId, CancellationToken cancellationToken) =>
        await _client.SendAsync("RemovePermission", HttpMethod.Delete, Function + "/policy/{StatementId}",
            new Dictionary<string, string> { ["{FunctionName}"] = functionName, ["{StatementId}"] = statementId }, null, cancellationToken).ConfigureAwait(false);

    private static readonly Dictionary<string, string> s_noResources = [];

    private static Dictionary<string, string> Name(string functionName) => new() { ["{FunctionName}"] = functionName };

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1819", Justification = "Mirrors the AWS blob member.")]
    private sealed record CodeUpdate(byte[] ZipFile);

    private sealed record ConfigurationUpdate(string? Role, string? Handler, string? Description, int? Timeout, int? MemorySize, FunctionEnvironment? Environment, string? Runtime);

    private sealed class PolicyResponse
    {
        public string? Policy { get; init; }

        public string? RevisionId { get; init; }
    }

    private sealed record PermissionBody(string StatementId, string Action, string Principal, string? SourceArn, string? SourceAccount);
}
