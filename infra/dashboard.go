package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"wspolicy/internal/metrics"
)

// dashboardName is the CloudWatch dashboard's name: the stack's.
func dashboardName(stack awscdk.Stack) string { return *stack.StackName() }

// Dashboard widget titles (the template tests look for them).
const (
	widgetSessions  = "Keepalives, session starts and ends (by reason)"
	widgetExpiry    = "Sweep duration and expiry lag (ms)"
	widgetCountdown = "Countdown drift (ms, by action) and executions"
	widgetPublish   = "Publish failures, dead letters, stream lag"
	widgetAPI       = "API requests, 4xx, 5xx, latency"
	widgetLambda    = "Function errors, throttles, concurrency"
)

// newDashboard builds one CloudWatch dashboard with the functions' own figures
// (internal/metrics: keepalives, starts, ends by reason, sweep duration and expiry lag, countdown
// drift, publish failures) beside the services' metrics: the API, the functions, the countdown
// executions and the dead-letter queue.
func newDashboard(stack awscdk.Stack, fns functions, dlq awssqs.Queue, sm awsstepfunctions.StateMachine, api awsapigatewayv2.HttpApi) awscloudwatch.Dashboard {
	five := awscdk.Duration_Minutes(jsii.Number(5))
	sum := &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}
	maxOf := &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}
	p99 := &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("p99")}
	ns := metricsNamespace(stack)
	graph := func(title string, left, right []awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &left, Right: &right, Width: jsii.Number(12), Height: jsii.Number(6),
		})
	}
	search := func(label, metric, dim, stat string) awscloudwatch.IMetric {
		return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String("SEARCH('{" + ns + "," + dim + "} MetricName=\"" + metric + "\"', '" + stat + "', 300)"),
			Label:      jsii.String(label),
			Period:     five,
		})
	}
	lambdaMetrics := []awscloudwatch.IMetric{}
	concurrency := []awscloudwatch.IMetric{}
	for _, spec := range functionSpecs() {
		fn := fns.all()[spec.name]
		lambdaMetrics = append(lambdaMetrics,
			fn.MetricErrors(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum"), Label: jsii.String(spec.name + " errors")}),
			fn.MetricThrottles(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum"), Label: jsii.String(spec.name + " throttles")}))
		concurrency = append(concurrency, fn.Metric(jsii.String("ConcurrentExecutions"),
			&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum"), Label: jsii.String(spec.name + " concurrency")}))
	}
	d := awscloudwatch.NewDashboard(stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName:   jsii.String(dashboardName(stack)),
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(3)),
	})
	d.AddWidgets(
		graph(widgetSessions,
			[]awscloudwatch.IMetric{customMetric(stack, metrics.Keepalives, nil, sum), customMetric(stack, metrics.SessionsStarted, nil, sum)},
			[]awscloudwatch.IMetric{search("ended", metrics.SessionsEnded, metrics.DimReason, "Sum")}),
		graph(widgetExpiry,
			[]awscloudwatch.IMetric{customMetric(stack, metrics.ExpiryLag, nil, maxOf), customMetric(stack, metrics.ExpiryLag, nil, p99)},
			[]awscloudwatch.IMetric{customMetric(stack, metrics.SweepDuration, nil, maxOf), customMetric(stack, metrics.SweepsCut, nil, sum)}),
	)
	d.AddWidgets(
		graph(widgetCountdown,
			[]awscloudwatch.IMetric{search("drift", metrics.CountdownDrift, metrics.DimAction, "Maximum")},
			[]awscloudwatch.IMetric{sm.MetricStarted(sum), sm.MetricFailed(sum), sm.MetricTimedOut(sum)}),
		graph(widgetPublish,
			[]awscloudwatch.IMetric{customMetric(stack, metrics.PublishFailures, nil, sum),
				dlq.MetricApproximateNumberOfMessagesVisible(maxOf)},
			[]awscloudwatch.IMetric{fns.publisher.Metric(jsii.String("IteratorAge"), maxOf)}),
	)
	d.AddWidgets(
		graph(widgetAPI,
			[]awscloudwatch.IMetric{api.MetricCount(sum), api.MetricClientError(sum), api.MetricServerError(sum)},
			[]awscloudwatch.IMetric{api.MetricLatency(p99)}),
		graph(widgetLambda, lambdaMetrics, concurrency),
	)
	return d
}
