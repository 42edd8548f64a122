package dev.tenstep.model.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * {@code scheduler/scheduler_config.json}. Only the training noise schedule and prediction type
 * matter: {@code _class_name} merely names the scheduler the repo author preferred.
 * Defaults are diffusers' (DDIMScheduler).
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record SchedulerConfig(
        String className,
        int numTrainTimesteps,
        double betaStart,
        double betaEnd,
        String betaSchedule,
        double[] trainedBetas,
        String predictionType,
        int stepsOffset,
        boolean setAlphaToOne,
        String timestepSpacing) {

    /** Builds and validates a config from the JSON keys' values (null = absent). */
    public static SchedulerConfig of(String className, Integer numTrainTimesteps, Double betaStart, Double betaEnd, String betaSchedule,
            double[] trainedBetas, String predictionType, Integer stepsOffset, Boolean setAlphaToOne, String timestepSpacing) {
        return fromJson(className, numTrainTimesteps, betaStart, betaEnd, betaSchedule, trainedBetas, predictionType, stepsOffset,
                setAlphaToOne, timestepSpacing, null, null, null);
    }

    @JsonCreator
    static SchedulerConfig fromJson(
            @JsonProperty("_class_name") String className,
            @JsonProperty("num_train_timesteps") Integer numTrainTimesteps,
            @JsonProperty("beta_start") Double betaStart,
            @JsonProperty("beta_end") Double betaEnd,
            @JsonProperty("beta_schedule") String betaSchedule,
            @JsonProperty("trained_betas") double[] trainedBetas,
            @JsonProperty("prediction_type") String predictionType,
            @JsonProperty("steps_offset") Integer stepsOffset,
            @JsonProperty("set_alpha_to_one") Boolean setAlphaToOne,
            @JsonProperty("timestep_spacing") String timestepSpacing,
            @JsonProperty("rescale_betas_zero_snr") Boolean rescaleBetasZeroSnr,
            @JsonProperty("thresholding") Boolean thresholding,
            @JsonProperty("clip_sample") Boolean clipSample) {
        if (Boolean.TRUE.equals(rescaleBetasZeroSnr)) {
            throw new UnsupportedOperationException("rescale_betas_zero_snr true is not supported");
        }
        if (Boolean.TRUE.equals(thresholding)) {
            throw new UnsupportedOperationException("thresholding true (dynamic thresholding) is not supported");
        }
        if (Boolean.TRUE.equals(clipSample)) {
            throw new UnsupportedOperationException("clip_sample true is not supported (Stable Diffusion uses false)");
        }
        SchedulerConfig c = new SchedulerConfig(className,
                Configs.or(numTrainTimesteps, 1000), Configs.or(betaStart, 0.0001), Configs.or(betaEnd, 0.02),
                Configs.or(betaSchedule, "linear"), trainedBetas, Configs.or(predictionType, "epsilon"),
                Configs.or(stepsOffset, 0), Configs.or(setAlphaToOne, true), Configs.or(timestepSpacing, "leading"));
        c.validate();
        return c;
    }

    void validate() {
        if (!predictionType.equals("epsilon") && !predictionType.equals("v_prediction")) {
            throw new UnsupportedOperationException("prediction_type '" + predictionType
                    + "' is not supported (epsilon or v_prediction)");
        }
        if (trainedBetas == null && !betaSchedule.equals("linear") && !betaSchedule.equals("scaled_linear")
                && !betaSchedule.equals("squaredcos_cap_v2")) {
            throw new UnsupportedOperationException("beta_schedule '" + betaSchedule
                    + "' is not supported (linear, scaled_linear, squaredcos_cap_v2, or trained_betas)");
        }
        if (!timestepSpacing.equals("leading") && !timestepSpacing.equals("trailing") && !timestepSpacing.equals("linspace")) {
            throw new UnsupportedOperationException("timestep_spacing '" + timestepSpacing
                    + "' is not supported (leading, trailing or linspace)");
        }
        if (trainedBetas != null && trainedBetas.length != numTrainTimesteps) {
            throw new IllegalArgumentException("trained_betas has " + trainedBetas.length
                    + " entries, num_train_timesteps is " + numTrainTimesteps);
        }
        if (!(betaStart > 0 && betaEnd > 0 && betaStart < 1 && betaEnd < 1)) {
            throw new IllegalArgumentException("beta_start " + betaStart + " / beta_end " + betaEnd + " must lie in (0, 1)");
        }
        if (numTrainTimesteps < 2) {
            throw new IllegalArgumentException("num_train_timesteps must be >= 2, got " + numTrainTimesteps);
        }
    }

    public boolean isVPrediction() {
        return predictionType.equals("v_prediction");
    }
}
