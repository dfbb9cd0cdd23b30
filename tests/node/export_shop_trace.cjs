// Sends one trace with the real OpenTelemetry Node SDK: a SERVER span with HTTP attributes
// (new semantic conventions) that records an exception, and an AWS SDK DynamoDB CLIENT child.
// Usage: node export_shop_trace.cjs <grpc|http-protobuf|http-json> <endpoint> <service name>
// Prints {"traceId": "<32 hex>"} once the exporter has flushed.

// CommonJS, so stack frames carry plain file paths as most Node services' do.
const { SpanKind, SpanStatusCode, context, trace } = require('@opentelemetry/api');
const { NodeTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-node');
const { defaultResource, resourceFromAttributes } = require('@opentelemetry/resources');
const { AWSXRayIdGenerator } = require('@opentelemetry/id-generator-aws-xray');
const { OTLPTraceExporter: GrpcExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
const { OTLPTraceExporter: ProtoExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { OTLPTraceExporter: JsonExporter } = require('@opentelemetry/exporter-trace-otlp-http');

const [protocol, endpoint, service] = process.argv.slice(2);
const exporter = {
  'grpc': () => new GrpcExporter({ url: endpoint }),
  'http-protobuf': () => new ProtoExporter({ url: `${endpoint}/v1/traces` }),
  'http-json': () => new JsonExporter({ url: `${endpoint}/v1/traces` }),
}[protocol]();

const provider = new NodeTracerProvider({
  // The SDK's own attributes (telemetry.sdk.*) plus the service's, as applications set them.
  resource: defaultResource().merge(
    resourceFromAttributes({ 'service.name': service, 'service.version': '2.4.1' })),
  idGenerator: new AWSXRayIdGenerator(),
  spanProcessors: [new BatchSpanProcessor(exporter)],
});
const tracer = provider.getTracer('xray-gateway-tests');

const root = tracer.startSpan('GET /cart', {
  kind: SpanKind.SERVER,
  attributes: {
    'http.request.method': 'GET',
    'url.scheme': 'http',
    'server.address': 'shop.local',
    'server.port': 8080,
    'url.path': '/cart',
    'http.response.status_code': 500,
    'user_agent.original': 'node-test',
    'enduser.id': 'bob',
    'cart.items': 2,
  },
});
const ctx = trace.setSpan(context.active(), root);
const ddb = tracer.startSpan('DynamoDB.GetItem', {
  kind: SpanKind.CLIENT,
  attributes: {
    'rpc.system': 'aws-api',
    'rpc.service': 'DynamoDB',
    'rpc.method': 'GetItem',
    'aws.dynamodb.table_names': ['carts'],
    'aws.region': 'us-east-1',
  },
}, ctx);
ddb.end();
root.recordException(new TypeError('cart exploded'));
root.setStatus({ code: SpanStatusCode.ERROR, message: 'cart exploded' });
root.end();

provider.forceFlush()
  .then(() => provider.shutdown())
  .then(() => console.log(JSON.stringify({ traceId: root.spanContext().traceId })));
