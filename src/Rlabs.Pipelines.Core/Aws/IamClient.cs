using System.Globalization;
using System.Xml.Linq;

namespace Rlabs.Pipelines.Aws;

/// <summary>An IAM role as GetRole/CreateRole describe it.</summary>
public sealed record IamRole(
    string Path,
    string RoleName,
    string RoleId,
    string Arn,
    DateTimeOffset CreateDate,
    string? AssumeRolePolicyDocument,
    string? Description,
    int? MaxSessionDuration);

public sealed class CreateRoleRequest
{
    public required string RoleName { get; init; }

    /// <summary>Trust policy JSON.</summary>
    public required string AssumeRolePolicyDocument { get; init; }

    public string? Path { get; init; }

    public string? Description { get; init; }

    public int? MaxSessionDuration { get; init; }

    public IReadOnlyList<AwsTag>? Tags { get; init; }
}

/// <summary>The scheduler's Lambda role (Query protocol, XML, signed for the partition's IAM region).</summary>
public sealed class IamClient
{
    private readonly AwsQueryClient _client;

    public IamClient(AwsSession session)
    {
        _client = new AwsQueryClient(session, AwsService.Iam, "IAM", "2010-05-08", "https://iam.amazonaws.com/doc/2010-05-08/");
    }

    public async Task<IamRole> GetRoleAsync(string roleName, CancellationToken cancellationToken)
    {
        var result = await _client.InvokeAsync("GetRole", [new("RoleName", roleName)], cancellationToken).ConfigureAwait(false);
        return ParseRole(result);
    }

    /// <summary>The role, or null when it does not exist.</summary>
    public async Task<IamRole?> FindRoleAsync(string roleName, CancellationToken cancellationToken)
    {
        try
        {
            return await GetRoleAsync(roleName, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.NotFound)
        {
            return null;
        }
    }

    public async Task<IamRole> CreateRoleAsync(CreateRoleRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var parameters = new List<KeyValuePair<string, string>>
        {
            new("RoleName", request.RoleName),
            new("AssumeRolePolicyDocument", request.AssumeRolePolicyDocument),
        };
        if (request.Path is not null)
        {
            parameters.Add(new("Path", request.Path));
        }

        if (request.Description is not null)
        {
            parameters.Add(new("Description", request.Description));
        }

        if (request.MaxSessionDuration is { } duration)
        {
            parameters.Add(new("MaxSessionDuration", duration.ToString(CultureInfo.InvariantCulture)));
        }

        var index = 1;
        foreach (var tag in request.Tags ?? [])
        {
            parameters.Add(new($"Tags.member.{index}.Key", tag.Key));
            parameters.Add(new($"Tags.member.{index}.Value", tag.Value));
            index++;
        }

        var result = await _client.InvokeAsync("CreateRole", parameters, cancellationToken).ConfigureAwait(false);
        return ParseRole(result);
    }

    /// <summary>An inline policy's document (decoded), or null when the role has no policy of that name.</summary>
    public async Task<string?> FindRolePolicyAsync(string roleName, string policyName, CancellationToken cancellationToken)
    {
        try
        {
            var result = await _client.InvokeAsync("GetRolePolicy", [new("RoleName", roleName), new("PolicyName", policyName)], cancellationToken).ConfigureAwait(false);
            // IAM sends policy documents URL-encoded.
            return result.Element(_client.Name("PolicyDocument"))?.Value is { } document ? Uri.UnescapeDataString(document) : null;
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.NotFound)
        {
            return null;
        }
    }

    public async Task PutRolePolicyAsync(string roleName, string policyName, string policyDocument, CancellationToken cancellationToken) =>
        await _client.InvokeAsync("PutRolePolicy",
            [new("RoleName", roleName), new("PolicyName", policyName), new("PolicyDocument", policyDocument)], cancellationToken).ConfigureAwait(false);

    public async Task DeleteRolePolicyAsync(string roleName, string policyName, CancellationToken cancellationToken) =>
        await _client.InvokeAsync("DeleteRolePolicy", [new("RoleName", roleName), new("PolicyName", policyName)], cancellationToken).ConfigureAwait(false);

    public async Task DeleteRoleAsync(string roleName, CancellationToken cancellationToken) =>
        await _client.InvokeAsync("DeleteRole", [new("RoleName", roleName)], cancellationToken).ConfigureAwait(false);

    private IamRole ParseRole(XElement result)
    {
        var role = result.Element(_client.Name("Role"))
            ?? throw new AwsServiceException("IAM", "ParseRole", System.Net.HttpStatusCode.OK, "MalformedResponse", "The response has no Role element.", null, null);
        string? Value(string name) => role.Element(_client.Name(name))?.Value;
        var document = Value("AssumeRolePolicyDocument");
        return new IamRole(
            Value("Path") ?? "/",
            Value("RoleName") ?? string.Empty,
            Value("RoleId") ?? string.Empty,
            Value("Arn") ?? string.Empty,
            DateTimeOffset.Parse(Value("CreateDate") ?? "1970-01-01T00:00:00Z", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal),
            // IAM sends policy documents URL-encoded.
            document is null ? null : Uri.UnescapeDataString(document),
            Value("Description"),
            int.TryParse(Value("MaxSessionDuration"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var max) ? max : null);
    }
}
