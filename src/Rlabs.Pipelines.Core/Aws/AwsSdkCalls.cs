using Amazon.Runtime;

namespace Rlabs.Pipelines.Aws;

/// <summary>Turns the AWSSDK's exceptions into <see cref="AwsServiceException"/> so callers handle one type.</summary>
internal static class AwsSdkCalls
{
    public static async Task<T> RunAsync<T>(AwsService service, string operation, Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (AmazonServiceException ex)
        {
            throw new AwsServiceException(service.ToString(), operation, ex.StatusCode,
                string.IsNullOrEmpty(ex.ErrorCode) ? ex.StatusCode.ToString() : ex.ErrorCode,
                ex.Message, ex.RequestId, ex);
        }
        catch (AmazonClientException ex)
        {
            throw new AwsServiceException(service.ToString(), operation, 0, "ClientError", ex.Message, null, ex);
        }
    }

    public static async Task RunAsync(AwsService service, string operation, Func<Task> call) =>
        await RunAsync(service, operation, async () =>
        {
            await call().ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);
}
